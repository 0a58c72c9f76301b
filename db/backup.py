"""`python -m db backup OUT` and `python -m db restore FILE`: a whole library, taken while the app runs.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot page by page
while other connections keep reading and writing; the copy is checked with `PRAGMA integrity_check`
before it replaces OUT. PostgreSQL: `pg_dump --format=custom` (one consistent snapshot, whatever
writes go on) and `pg_restore --clean`. The password goes to the tools through PGPASSWORD, never on
their command line. A backup of one kind is refused by a library of the other.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from core.vocabulary import N_, Worded

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


class BackupError(Worded):
    """A backup or restore that could not be done; nothing was replaced."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    backend: str
    bytes: int


def _backend(url: str) -> str:
    return make_url(url).get_backend_name()


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(N_("An in-memory SQLite library has no file to back up."))
    return Path(database)


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise BackupError(N_("{tool} is not installed (Debian package postgresql-client)."), tool=name)
    return found


def _pg_call(tool: str, url: str, *args: str) -> None:
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    dsn = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    run = subprocess.run([_pg_tool(tool), *args, f"--dbname={dsn}"], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise BackupError(N_("{tool} failed: {detail}"), tool=tool, detail=run.stderr.strip()[-300:])


def _check_sqlite(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        has_schema = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone()
    if verdict != "ok":
        raise BackupError(N_("The SQLite copy failed its integrity check ({verdict})."), verdict=verdict)
    if not has_schema:
        raise BackupError(N_("{path} holds no case library (no schema revision)."), path=str(path))


def backup(url: str, out: Path) -> BackupResult:
    """A consistent copy of the library at `url` in `out` (replaced only once the copy is complete)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    backend = _backend(url)
    try:
        if backend == "sqlite":
            source = _sqlite_path(url)
            if not source.is_file():
                raise BackupError(N_("There is no library file at {path}."), path=str(source))
            with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(tmp)) as dst:
                src.backup(dst, pages=256)  # in steps: writers wait for one step at a time, not the whole copy
            _check_sqlite(tmp)
        elif backend == "postgresql":
            _pg_call("pg_dump", url, "--format=custom", "--no-owner", "--no-privileges", f"--file={tmp}")
        else:
            raise BackupError(
                N_("Backups are made of SQLite and PostgreSQL libraries, not {backend}."), backend=backend
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(out, backend, out.stat().st_size)


def restore(url: str, backup_file: Path) -> str:
    """Replace the library at `url` by the backup's contents; returns the backend. The backup is checked first."""
    backup_file = Path(backup_file)
    try:
        head = backup_file.read_bytes()[:16]
    except OSError as exc:
        raise BackupError(
            N_("The backup {path} cannot be read ({error})."), path=str(backup_file), error=exc.strerror or str(exc)
        ) from None
    backend = _backend(url)
    kind = "sqlite" if head.startswith(SQLITE_MAGIC) else "postgresql" if head.startswith(PG_MAGIC) else None
    if kind != backend:
        raise BackupError(N_("{path} is not a backup of a {backend} library."), path=str(backup_file), backend=backend)
    if backend == "sqlite":
        _check_sqlite(backup_file)
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Through the backup API as well: open connections see the old library or the restored one, whole.
        with closing(sqlite3.connect(backup_file)) as src, closing(sqlite3.connect(target, timeout=30)) as dst:
            src.backup(dst)
        _check_sqlite(target)
    else:
        _pg_call(
            "pg_restore",
            url,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            str(backup_file),
        )
    return backend
