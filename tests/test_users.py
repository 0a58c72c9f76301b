"""Users and logins: argon2 hashes only, throttled failures, roles, and `python -m db users`."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from core.settings import database_url
from db.engine import ensure_library, session_scope
from db.errors import LibraryError
from db.models import utcnow
from db.operator import OPERATOR
from db.users import (
    FREE_FAILURES,
    authenticate,
    create_first_instructor,
    create_user,
    effective_roles,
    find_user,
    set_active,
)

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


@pytest.fixture
def engine(tmp_path):
    return ensure_library(f"sqlite:///{tmp_path / 'lib.db'}")


def test_only_an_argon2_hash_reaches_the_database(engine, tmp_path):
    with session_scope(engine) as s:
        create_user(s, OPERATOR, "Alice", PASSWORD, ["instructor"])
    with session_scope(engine) as s:
        stored = find_user(s, "alice").password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    engine.dispose()  # flush the WAL into the file before reading its bytes
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("lib.db*"))
    assert b"alice" in raw and PASSWORD.encode() not in raw


def test_login_succeeds_and_failures_lock_the_account_with_growing_waits(engine):
    with session_scope(engine) as s:
        uid = create_user(s, OPERATOR, "bob", PASSWORD, ["student"]).id
    now = utcnow()
    with session_scope(engine) as s:
        assert authenticate(s, "BOB", PASSWORD, now).user_id == uid  # names ignore case
    waits = []
    for i in range(FREE_FAILURES + 2):
        with session_scope(engine) as s:
            result = authenticate(s, "bob", "wrong password", now)
        assert not result.ok and "Wrong user name or password" in result.message
        waits.append(result.retry_after_seconds)
        if i < FREE_FAILURES + 1:
            now += timedelta(seconds=result.retry_after_seconds)  # wait out each lock but the last
    assert waits == [0, 0, 5, 10, 20]
    with session_scope(engine) as s:  # during a lock even the right password is refused, unchecked
        locked = authenticate(s, "bob", PASSWORD, now)
    assert not locked.ok and "wait 20 s" in locked.message
    with session_scope(engine) as s:
        assert authenticate(s, "bob", PASSWORD, now + timedelta(seconds=20)).ok
        assert find_user(s, "bob").failed_logins == 0
    with session_scope(engine) as s:
        assert authenticate(s, "bob", "wrong", now + timedelta(seconds=21)).retry_after_seconds == 0  # counter reset


def test_unknown_name_and_deactivated_user_are_refused(engine):
    with session_scope(engine) as s:
        create_user(s, OPERATOR, "teacher", PASSWORD, ["instructor"])
        create_user(s, OPERATOR, "carol", PASSWORD, ["student", "reviewer"])
    with session_scope(engine) as s:
        assert authenticate(s, "nobody", PASSWORD).message == "Wrong user name or password."
        set_active(s, OPERATOR, "carol", False)
    with session_scope(engine) as s:
        assert "deactivated" in authenticate(s, "carol", PASSWORD).message
        with pytest.raises(LibraryError, match="last active instructor"):
            set_active(s, OPERATOR, "teacher", False)


def test_roles_and_first_run_rules(engine):
    with session_scope(engine) as s:
        boss = create_first_instructor(s, "boss", PASSWORD)
        assert effective_roles(boss) == {"instructor", "student", "reviewer"}
        with pytest.raises(LibraryError, match="already exists"):
            create_first_instructor(s, "intruder", PASSWORD)
        assert effective_roles(create_user(s, OPERATOR, "rev", PASSWORD, ["reviewer"])) == {"reviewer"}
        for bad in (
            ("x y", PASSWORD, ["student"]),
            ("ok", "short", ["student"]),
            ("ok", PASSWORD, ["admin"]),
            ("ok", PASSWORD, []),
        ):
            with pytest.raises(LibraryError):
                create_user(s, OPERATOR, *bad)


def run_db(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "db", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def test_cli_creates_lists_and_deactivates_users():
    done = run_db("users", "create", "Dana", "--role", "instructor", env={"CXR_NEW_USER_PASSWORD": PASSWORD})
    assert done.returncode == 0 and "created user 'dana'" in done.stdout, done.stderr
    assert (
        run_db(
            "users",
            "create",
            "erin",
            "--role",
            "student",
            "--role",
            "reviewer",
            env={"CXR_NEW_USER_PASSWORD": PASSWORD},
        ).returncode
        == 0
    )
    again = run_db("users", "create", "dana", "--role", "student", env={"CXR_NEW_USER_PASSWORD": PASSWORD})
    assert again.returncode == 2 and again.stderr.strip() == "error: A user called 'dana' already exists."
    short = run_db("users", "create", "fred", "--role", "student", env={"CXR_NEW_USER_PASSWORD": "abc"})
    assert short.returncode == 2 and "at least 8 characters" in short.stderr and "Traceback" not in short.stderr
    assert run_db("users", "deactivate", "erin").returncode == 0
    listing = run_db("users", "list").stdout.splitlines()
    assert listing == ["dana\tinstructor\tactive", "erin\treviewer,student\tdeactivated"]
    with session_scope(ensure_library(database_url())) as s:
        assert authenticate(s, "dana", PASSWORD).ok and not authenticate(s, "erin", PASSWORD).ok
