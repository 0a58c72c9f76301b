"""Fixtures for the case-library tests: a throwaway PostgreSQL server and libraries on both backends.

Test modules import what they use (`from db_support import library, ...`) so tests/conftest.py,
shared with other work, stays as it is.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from db.engine import ensure_library, forget_engine

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
PG_USER = "cxr"
_db_counter = itertools.count()


def _pg_bin() -> Path:
    found = sorted(glob.glob(PG_BIN_GLOB))
    if not found:
        pytest.fail("PostgreSQL is not installed (Debian package `postgresql`): run scripts/system-deps.sh")
    return Path(found[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; run it as the Debian package's `postgres` user then.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PgServer:
    def __init__(self):
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="cxr-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run(
            _as_server_user([str(self.bin / args[0]), *args[1:]]),
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self) -> None:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={PG_USER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = f"lib_{os.getpid()}_{next(_db_counter)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        forget_engine(url)
        self.admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server():
    server = PgServer()
    server.start()
    yield server
    try:
        server.stop("immediate")
    finally:
        shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def library_url(request, tmp_path):
    """An empty database URL on each backend (not yet migrated)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'library.db'}"
        yield url
        forget_engine(url)
    else:
        server = request.getfixturevalue("pg_server")
        url = server.create_database()
        yield url
        server.drop_database(url)


@pytest.fixture
def library(library_url):
    """A migrated, empty library engine on each backend."""
    return ensure_library(library_url)


@pytest.fixture
def cli_env(library_url, tmp_path, monkeypatch):
    """Environment for `python -m db` subprocesses pointing at `library_url`, demo seeding off."""
    env = dict(os.environ, DATABASE_URL=library_url, CXR_DATA_DIR=str(tmp_path / "data"), CXR_SEED_DEMO="0")
    return env


def small_folder(source: Path, dest: Path, per_class: int = 3, loose: int = 1) -> Path:
    """A tiny NORMAL/PNEUMONIA folder copied from kermany224/test (+ loose files without truth)."""
    for label in ("NORMAL", "PNEUMONIA"):
        (dest / label).mkdir(parents=True, exist_ok=True)
        for path in sorted((source / label).glob("*.jpeg"))[:per_class]:
            shutil.copy(path, dest / label / path.name)
    for path in sorted((source / "PNEUMONIA").glob("*.jpeg"))[per_class : per_class + loose]:
        shutil.copy(path, dest / path.name)
    return dest


def insert_first_image(conn):
    """Image 1 as every schema revision stored it, in plain SQL (for upgrade tests from old revisions)."""
    import numpy as np
    from sqlalchemy import text

    from db.codec import encode_image

    img = encode_image(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64))
    conn.execute(
        text(
            "INSERT INTO images (id, sha256, width, height, source_format, png, thumbnail, created_at) "
            "VALUES (1, :h, 64, 64, 'PNG', :p, :t, CURRENT_TIMESTAMP)"
        ),
        {"h": img.sha256, "p": img.png, "t": img.thumbnail},
    )
    return img
