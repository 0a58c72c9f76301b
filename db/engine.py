"""Where the library lives, how we connect to it, and creating/migrating it on first start."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL except on power loss
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout). A deferred
        # transaction that reads and then writes can fail at once with "database is locked" when
        # another writer committed in between; busy_timeout cannot retry that case.
        # A read-only scope takes no lock (WAL readers see a snapshot), and query_only makes a stray
        # write in it fail at once instead of racing: every page run took the one write lock in turn,
        # and 10 users' page runs queued behind each other (scripts/loadtest.py).
        read_only = bool(conn.get_execution_options().get(READ_ONLY, False))
        conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


READ_ONLY = "cxr_read_only"
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def make_engine(url: str) -> Engine:
    """One engine (connection pool) per URL and process. The URL comes from core.settings.database_url()."""
    with _engines_lock:
        if url in _engines:
            return _engines[url]
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
            )
            _configure_sqlite(engine)
        else:
            # pre_ping replaces connections a restarted server has dropped, instead of failing once.
            engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
        _engines[url] = engine
        return engine


def forget_engine(url: str) -> None:
    """Close and drop one URL's pool (e.g. a temporary benchmark database)."""
    with _engines_lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def dispose_engines() -> None:
    """Close every pooled connection (tests; and after a fork)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def alembic_config(engine: Engine | None):
    """`engine` may be None when only the migration scripts are read, never run."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(None)).get_current_head()
    assert head is not None  # None only for an empty versions folder; the migrations ship with db/
    return head


_migrate_lock = threading.Lock()  # a page and the background demo seed may open a new library at once


def ensure_library(url: str) -> Engine:
    """The engine for `url`, with the database created and migrated to the latest schema."""
    engine = make_engine(url)
    if current_revision(engine) != head_revision():
        with _migrate_lock:
            if current_revision(engine) != head_revision():
                upgrade(engine)
    return engine


def refresh_statistics(engine: Engine) -> None:
    """ANALYZE after bulk writes: PostgreSQL plans the gallery query badly (seconds, not ms) until it has row statistics."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


@contextmanager
def session_scope(engine: Engine, read_only: bool = False) -> Iterator[Session]:
    """One transaction: committed if the block finishes, rolled back if it raises.

    `read_only`: on SQLite, a transaction that takes no write lock and refuses writes; pages' pure reads.
    """
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    with Session(bind, expire_on_commit=False) as session:
        with session.begin():
            yield session
