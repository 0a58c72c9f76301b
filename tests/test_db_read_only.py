"""Read-only scopes on SQLite: they take no write lock (a writer holding it does not make them wait) and refuse writes."""

import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from db.engine import ensure_library, session_scope
from db.models import User
from db.operator import OPERATOR
from db.users import create_user, has_users


@pytest.fixture
def sqlite_library(tmp_path):
    engine = ensure_library(f"sqlite:///{tmp_path / 'library.db'}")
    with session_scope(engine) as s:
        create_user(s, OPERATOR, "reader", "long-enough-password", ["student"])
    return engine


def test_a_read_only_scope_reads_while_a_writer_holds_the_lock(sqlite_library):
    holding, release = threading.Event(), threading.Event()

    def writer():
        with session_scope(sqlite_library) as s:  # BEGIN IMMEDIATE: the write lock, held until release
            s.get(User, 1).language = "ko"
            s.flush()
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    try:
        started = time.monotonic()
        with session_scope(sqlite_library, read_only=True) as s:
            assert has_users(s)
            assert s.scalars(select(User.language)).one() != "ko"  # the snapshot before the writer's commit
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join()
    assert waited < 2, f"a read-only scope waited {waited:.1f} s for the write lock"


def test_a_write_lock_still_makes_writers_wait(sqlite_library):
    # The counterpart: without read_only the same read waits for the lock (here: until the writer ends).
    holding, release = threading.Event(), threading.Event()

    def writer():
        with session_scope(sqlite_library):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    threading.Timer(1.0, release.set).start()
    started = time.monotonic()
    with session_scope(sqlite_library) as s:
        has_users(s)
    thread.join()
    assert time.monotonic() - started >= 0.9


def test_a_write_in_a_read_only_scope_fails_and_changes_nothing(sqlite_library):
    with pytest.raises(OperationalError, match="readonly"):
        with session_scope(sqlite_library, read_only=True) as s:
            s.get(User, 1).language = "ko"
    with session_scope(sqlite_library) as s:  # an ordinary scope after it on the same pooled connection writes
        assert s.get(User, 1).language != "ko"
        s.get(User, 1).language = "ko"
    with session_scope(sqlite_library, read_only=True) as s:
        assert s.get(User, 1).language == "ko"
