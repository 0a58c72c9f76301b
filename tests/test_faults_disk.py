"""Disk full (issue 18): the SQLite library on a small tmpfs, filled to the last byte. A save is refused with a
worded message (not a traceback), the typed notes stay on the page, PRAGMA integrity_check is ok, earlier data is
intact, and the same save goes through once space is freed, without restarting anything.

tmpfs needs root (or CAP_SYS_ADMIN): CI runs as root (.ci/run); elsewhere the test is skipped, saying so."""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import uuid
from contextlib import closing

import numpy as np
import pytest
from auth_support import logged_in
from db_support import small_folder
from sqlalchemy import text
from test_db_pages import fill, gallery, texts
from test_quiz_and_roles import app

from db import repository as repo
from db.codec import encode_image
from db.engine import ensure_library, forget_engine, session_scope
from db.errors import is_disk_full


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill_the_disk(folder) -> object:
    """A file that takes every free block, down to the last ones (unbuffered writes until ENOSPC)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_refuses_the_save_in_words_and_keeps_everything(
    small_disk, monkeypatch, use_placeholder, kermany_test_dir, tmp_path
):
    url = f"sqlite:///{small_disk / 'library.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CXR_SEED_DEMO", "0")
    fill(url, small_folder(kermany_test_dir, tmp_path / "in", per_class=1, loose=0))
    engine = ensure_library(url)
    try:
        at = gallery(logged_in(app()).run())
        case_id = int([b.key for b in at.button if b.key and b.key.startswith("open_")][0].split("_")[1])
        at.button(key=f"open_{case_id}").click().run()
        notes = "Typed while the disk was full. " + uuid.uuid4().hex * 200
        at.text_area(key=f"notes_{case_id}").set_value(notes).run()
        with session_scope(engine) as s:
            before = repo.stats(s)
        with closing(sqlite3.connect(small_disk / "library.db")) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the next write needs new room in the WAL
        filler = fill_the_disk(small_disk)

        at.button(key=f"save_{case_id}").click().run()
        assert not at.exception, at.exception
        shown = texts(at)
        assert "The case library's disk is full" in shown and "nothing was saved" in shown
        assert at.text_area(key=f"notes_{case_id}").value == notes
        with pytest.raises(Exception) as refused:  # a new case (image + case in one transaction) too
            with session_scope(engine) as s:
                image, _ = repo.add_image(s, encode_image(np.full((64, 64), 7, np.uint8)), "PNG")
                repo.add_case(s, image, "no room", "faults")
        assert is_disk_full(refused.value), refused.value
        with session_scope(engine) as s:
            assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert repo.stats(s) == before and repo.get_case(s, case_id).notes == ""

        filler.unlink()  # space again: the same click, the same engine
        at.button(key=f"save_{case_id}").click().run()
        assert "Notes and tags saved." in texts(at)
        with session_scope(engine) as s:
            assert repo.get_case(s, case_id).notes == notes
            assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        forget_engine(url)
