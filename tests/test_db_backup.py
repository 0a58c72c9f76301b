"""`python -m db backup` / `restore`: a round trip on SQLite and PostgreSQL while another writer keeps going."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from db_support import library_url, pg_server
from sqlalchemy import delete, func, select

from db import repository
from db.backup import BackupError, backup, restore
from db.bench import seed_synthetic
from db.codec import encode_image
from db.engine import ensure_library, forget_engine, session_scope
from db.models import Case, Image, Prediction

REPO = Path(__file__).resolve().parent.parent


def add_case(engine, n: int, source: str) -> None:
    """Image and case in one transaction, a new picture every time."""
    pixels = np.full((32, 32), n % 256, np.uint8)
    pixels[0, :4] = np.frombuffer(n.to_bytes(4, "little"), np.uint8)
    with session_scope(engine) as s:
        image, _ = repository.add_image(s, encode_image(pixels), "PNG")
        repository.add_case(s, image, f"{source} {n}", source)


def counts(engine) -> tuple[int, int, int]:
    with session_scope(engine) as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Case, Image, Prediction))  # type: ignore[return-value]


def test_a_backup_taken_while_writes_go_on_restores_whole(library_url, tmp_path):
    engine = ensure_library(library_url)
    for n in range(1, 31):
        add_case(engine, n, "before")
    before = counts(engine)
    stop, written = threading.Event(), []

    def writer():  # another user of the library, adding cases (image + case in one transaction) the whole time
        n = 1000
        while not stop.is_set():
            n += 1
            add_case(engine, n, "writer")
            written.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = backup(library_url, tmp_path / "library.backup")
    finally:
        stop.set()
        thread.join()
    assert result.path.is_file() and result.bytes > 0 and written  # the writer really ran beside it
    after_writes = counts(engine)
    # Damage the live library, then bring the backup back.
    with session_scope(engine) as s:
        s.execute(delete(Case))
    assert counts(engine)[0] == 0
    assert restore(library_url, result.path) == result.backend
    forget_engine(library_url)
    restored = counts(ensure_library(library_url))
    # A consistent snapshot: everything from before, the writer's first k cases each with its image.
    with session_scope(ensure_library(library_url)) as s:
        titles = s.scalars(select(Case.title).where(Case.source == "writer")).all()
    k = len(titles)
    assert sorted(int(t.rsplit(" ", 1)[1]) for t in titles) == list(range(1001, 1001 + k))
    assert restored == (before[0] + k, before[1] + k, before[2]) and restored[0] <= after_writes[0]


def test_a_backup_of_the_other_kind_or_no_backup_is_refused_and_changes_nothing(library_url, tmp_path):
    engine = ensure_library(library_url)
    for n in range(3):
        add_case(engine, n, "kept")
    before = counts(engine)
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    with pytest.raises(BackupError, match="is not a backup of a"):
        restore(library_url, not_a_backup)
    with pytest.raises(BackupError, match="cannot be read"):
        restore(library_url, tmp_path / "missing.backup")
    assert counts(engine) == before


def test_cli_backup_and_restore_need_yes_to_replace(tmp_path):
    url = f"sqlite:///{tmp_path / 'library.db'}"
    seed_synthetic(ensure_library(url), 3, seed=3)
    env = {"DATABASE_URL": url, "CXR_SEED_DEMO": "0", "PATH": "/usr/bin:/bin"}

    def db(*args):
        return subprocess.run(
            [sys.executable, "-m", "db", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )

    made = db("backup", str(tmp_path / "out.db"))
    assert made.returncode == 0 and "backup of the sqlite library" in made.stdout, made.stderr
    refused = db("restore", str(tmp_path / "out.db"))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = db("restore", str(tmp_path / "out.db"), "--yes")
    assert done.returncode == 0 and "restored the sqlite library" in done.stdout, done.stderr
