"""Login sessions: signed expiring tokens, hash-only storage, revocation, rotation, account changes, quiz resume.

On a real SQLite file (and the migration on PostgreSQL too); pages through AppTest. The browser side (the
cookie itself, reloads, a second browser) is in tests/test_e2e_sessions.py.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from auth_support import TEST_PASSWORD, ensure_user, sign_in
from db_support import library, library_url, pg_server
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from core import session_tokens
from core.services import session_cookie, sessions
from core.settings import database_url, session_hours, session_idle_minutes
from db.engine import ensure_library, session_scope
from db.errors import LibraryError
from db.models import UserSession, utcnow
from db.operator import OPERATOR
from db.sessions import live_count, live_session
from db.users import (
    NoRole,
    WrongPassword,
    authenticate,
    change_password,
    create_user,
    find_user,
    reset_password,
    set_active,
    set_roles,
)

PASSWORD = "correct horse battery"


@pytest.fixture
def engine(tmp_path):
    return ensure_library(f"sqlite:///{tmp_path / 'lib.db'}")


def new_user(engine, name="amy", roles=("student",)) -> int:
    with session_scope(engine) as s:
        return create_user(s, OPERATOR, name, PASSWORD, list(roles)).id


def issued(engine, user_id, **kw) -> sessions.Issued:
    with session_scope(engine) as s:
        return sessions.issue(s, user_id, **kw)


def resumed(engine, cookie_value, now=None):
    with session_scope(engine) as s:
        row = sessions.resume(s, cookie_value, now)
        return row.id if row is not None else None


def test_the_session_length_is_one_setting_with_a_12_hour_default(monkeypatch):
    monkeypatch.delenv("CXR_SESSION_HOURS", raising=False)
    assert session_hours() == 12
    monkeypatch.setenv("CXR_SESSION_HOURS", "0.5")
    assert session_hours() == 0.5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("CXR_SESSION_HOURS", bad)
        with pytest.raises(ValueError, match="CXR_SESSION_HOURS"):
            session_hours()


def test_the_idle_limit_is_one_setting_with_a_60_minute_default(monkeypatch):
    monkeypatch.delenv("CXR_SESSION_IDLE_MINUTES", raising=False)
    assert session_idle_minutes() == 60 and sessions.idle_limit() == timedelta(minutes=60)
    monkeypatch.setenv("CXR_SESSION_IDLE_MINUTES", "15")
    assert sessions.idle_limit() == timedelta(minutes=15)
    for bad in ("0", "-5", "a while"):
        monkeypatch.setenv("CXR_SESSION_IDLE_MINUTES", bad)
        with pytest.raises(ValueError, match="CXR_SESSION_IDLE_MINUTES"):
            session_idle_minutes()


def last_seen(engine, session_id) -> datetime:
    """As stored, without a zone (SQLite keeps none; everything stored is UTC)."""
    with session_scope(engine) as s:
        return s.get(UserSession, session_id).last_seen_at.replace(tzinfo=None)


def test_a_session_unused_past_the_idle_limit_ends_and_use_keeps_it(engine, monkeypatch):
    monkeypatch.setenv("CXR_SESSION_IDLE_MINUTES", "60")
    uid = new_user(engine)
    ticket = issued(engine, uid, hours=12)
    t0 = last_seen(engine, ticket.session_id).replace(tzinfo=UTC)  # the login; the clock below is the test's

    def current(at):
        with session_scope(engine) as s:
            found = sessions.current(s, ticket.session_id, at)
            return found.row.id if found.row is not None else None, found.idle

    # Used every 50 minutes for five hours: never idle, though each gap is most of the limit.
    for step in range(1, 7):
        assert current(t0 + timedelta(minutes=50 * step)) == (ticket.session_id, False)
    assert last_seen(engine, ticket.session_id) == (t0 + timedelta(minutes=300)).replace(tzinfo=None)
    # A click soon after the last is not a write (last seen is throttled).
    assert current(t0 + timedelta(minutes=300, seconds=20)) == (ticket.session_id, False)
    assert last_seen(engine, ticket.session_id) == (t0 + timedelta(minutes=300)).replace(tzinfo=None)
    # Then 61 minutes without a request: the session ends, in the library, for the open tab and the cookie.
    assert current(t0 + timedelta(minutes=361, seconds=21)) == (None, True)
    with session_scope(engine) as s:
        assert s.get(UserSession, ticket.session_id).revoked_at is not None
    assert current(t0 + timedelta(minutes=362)) == (None, False)  # ended already: said once
    assert resumed(engine, ticket.cookie_value, t0 + timedelta(minutes=362)) is None


def test_a_cookie_brought_back_after_the_idle_limit_is_refused_as_idle(engine, monkeypatch):
    monkeypatch.setenv("CXR_SESSION_IDLE_MINUTES", "30")
    uid = new_user(engine)
    t0 = utcnow()
    ticket = issued(engine, uid, hours=12)
    with session_scope(engine) as s:
        assert sessions.find(s, ticket.cookie_value, t0 + timedelta(minutes=29)).row is not None
    with session_scope(engine) as s:
        found = sessions.find(s, ticket.cookie_value, t0 + timedelta(minutes=59, seconds=30))
        assert found.row is None and found.idle


def test_a_cookie_resumes_its_session_until_it_expires(engine):
    uid = new_user(engine)
    now = utcnow()
    ticket = issued(engine, uid, now=now, hours=2)
    assert resumed(engine, ticket.cookie_value, now + timedelta(hours=1)) == ticket.session_id
    assert 7100 < ticket.max_age <= 7200
    assert resumed(engine, ticket.cookie_value, now + timedelta(hours=2, seconds=1)) is None


def test_forged_or_edited_cookies_are_refused(engine):
    uid = new_user(engine)
    ticket = issued(engine, uid)
    version, token, expires, signature = ticket.cookie_value.split(".")
    later = str(int(expires) + 86_400)  # stretching the expiry breaks the signature
    with session_scope(engine) as s:
        key = sessions.signing_key(s)
    for forged in (
        f"{version}.{token}.{later}.{signature}",
        f"{version}.{session_tokens.new_token()}.{expires}.{signature}",
        f"{version}.{token}.{expires}.{signature[:-2]}AA",
        session_tokens.sign(b"another library's key", token, ticket.expires_at),
        token,
        "",
        "v1.ü.1.x",
    ):
        assert resumed(engine, forged) is None, forged
    # A correctly signed token the library never issued is unknown there.
    assert resumed(engine, session_tokens.sign(key, session_tokens.new_token(), ticket.expires_at)) is None
    assert resumed(engine, ticket.cookie_value) == ticket.session_id


def test_only_a_hash_of_the_token_reaches_the_database(engine, tmp_path):
    uid = new_user(engine)
    ticket = issued(engine, uid)
    token = ticket.cookie_value.split(".")[1]
    with session_scope(engine) as s:
        row = s.get(UserSession, ticket.session_id)
        assert row.token_hash == session_tokens.token_hash(token) != token
    assert token not in repr(ticket) and ticket.cookie_value not in repr(ticket)
    engine.dispose()  # flush the WAL into the file before reading its bytes
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("lib.db*"))
    assert session_tokens.token_hash(token).encode() in raw
    assert token.encode() not in raw and ticket.cookie_value.encode() not in raw


def test_every_login_gets_a_new_token(engine):
    uid = new_user(engine)
    first, second = issued(engine, uid), issued(engine, uid)
    assert first.session_id != second.session_id and first.cookie_value != second.cookie_value
    with session_scope(engine) as s:
        assert live_count(s, uid) == 2


def test_logout_revokes_the_session_everywhere_it_is_used(engine):
    uid = new_user(engine)
    ticket, other = issued(engine, uid), issued(engine, uid)
    with session_scope(engine) as s:
        sessions.end(s, ticket.session_id)
    assert resumed(engine, ticket.cookie_value) is None
    with session_scope(engine) as s:
        assert live_session(s, ticket.session_id) is None  # an open tab of it is out at its next click
        assert live_session(s, other.session_id) is not None  # another device's login stays


def test_deactivation_a_reset_and_a_role_change_end_the_users_sessions(engine):
    new_user(engine, "boss", ["instructor"])
    uid = new_user(engine)
    for change in (
        lambda s: set_active(s, OPERATOR, "amy", False),
        lambda s: reset_password(s, OPERATOR, "amy"),
        lambda s: set_roles(s, OPERATOR, "amy", ["student", "reviewer"]),
    ):
        with session_scope(engine) as s:
            set_active(s, OPERATOR, "amy", True)
        ticket = issued(engine, uid)
        with session_scope(engine) as s:
            change(s)
        assert resumed(engine, ticket.cookie_value) is None


def test_a_password_change_needs_the_old_password_and_rotates_the_session(engine):
    uid = new_user(engine)
    here, elsewhere = issued(engine, uid), issued(engine, uid)
    with session_scope(engine) as s, pytest.raises(WrongPassword):
        change_password(s, uid, "not the password", "a brand new one")
    assert resumed(engine, elsewhere.cookie_value) == elsewhere.session_id  # a refused change ends nothing
    with session_scope(engine) as s:
        rotated = sessions.change_password(s, uid, PASSWORD, "a brand new one")
    assert resumed(engine, here.cookie_value) is None and resumed(engine, elsewhere.cookie_value) is None
    assert resumed(engine, rotated.cookie_value) == rotated.session_id
    with session_scope(engine) as s:
        assert authenticate(s, "amy", "a brand new one").ok and not authenticate(s, "amy", PASSWORD).ok
        with pytest.raises(LibraryError, match="at least 8"):
            change_password(s, uid, "a brand new one", "short")


def test_a_reset_gives_a_one_time_password_that_must_be_changed(engine):
    new_user(engine, "boss", ["instructor"])
    uid = new_user(engine)
    with session_scope(engine) as s:
        one_time = reset_password(s, OPERATOR, "amy")
        assert len(one_time) >= 12 and find_user(s, "amy").must_change_password
    with session_scope(engine) as s:
        assert authenticate(s, "amy", one_time).ok and not authenticate(s, "amy", PASSWORD).ok
        change_password(s, uid, one_time, "my own password")
        assert not find_user(s, "amy").must_change_password


def test_roles_are_checked_and_the_last_instructor_keeps_the_role(engine):
    new_user(engine, "boss", ["instructor"])
    with session_scope(engine) as s:
        with pytest.raises(NoRole, match="Choose at least one role"):
            set_roles(s, OPERATOR, "boss", [])
        with pytest.raises(LibraryError, match="Unknown role 'dean'"):
            set_roles(s, OPERATOR, "boss", ["dean"])
        with pytest.raises(LibraryError, match="last active instructor"):
            set_roles(s, OPERATOR, "boss", ["student"])
        assert [r.role for r in find_user(s, "boss").roles] == ["instructor"]


def test_the_cookie_routes_set_an_httponly_strict_cookie_once_and_clear_it(engine):
    from starlette.applications import Starlette

    ticket = issued(engine, new_user(engine))
    code = session_cookie.offer(ticket)
    client = TestClient(Starlette(routes=session_cookie.routes()))
    assert client.post(session_cookie.SESSION_ROUTE).status_code == 403  # no code
    answer = client.post(session_cookie.SESSION_ROUTE, headers={session_cookie.HANDOFF_HEADER: code})
    assert answer.status_code == 204
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{session_tokens.COOKIE_NAME}={ticket.cookie_value};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    assert abs(int(re.search(r"Max-Age=(\d+)", cookie).group(1)) - ticket.max_age) <= 2  # lives as long as the session
    again = client.post(session_cookie.SESSION_ROUTE, headers={session_cookie.HANDOFF_HEADER: code})
    assert again.status_code == 403 and "set-cookie" not in again.headers  # the code works once
    https = TestClient(Starlette(routes=session_cookie.routes()), base_url="https://lab.example")
    code = session_cookie.offer(ticket)
    assert (
        "Secure"
        in https.post(session_cookie.SESSION_ROUTE, headers={session_cookie.HANDOFF_HEADER: code}).headers["set-cookie"]
    )
    cleared = client.post(session_cookie.LOGOUT_ROUTE).headers["set-cookie"]
    assert cleared.startswith(f'{session_tokens.COOKIE_NAME}="";') and "Max-Age=0" in cleared


def test_the_sessions_migration_on_each_backend(library):
    with session_scope(library) as s:
        uid = create_user(s, OPERATOR, "pat", PASSWORD, ["student"]).id
        ticket = sessions.issue(s, uid)
    with session_scope(library) as s:
        assert sessions.resume(s, ticket.cookie_value).id == ticket.session_id
        assert find_user(s, "pat").must_change_password is False
        set_active(s, OPERATOR, "pat", False)
    with session_scope(library) as s:
        assert sessions.resume(s, ticket.cookie_value) is None


# ---------- pages (AppTest) ------------------------------------------------------------------


def app() -> AppTest:
    import streamlit as st

    st.cache_resource.clear()
    return AppTest.from_file("../Home.py", default_timeout=300)


def texts(at) -> str:
    return " ".join(
        str(e.value)
        for kind in ("markdown", "caption", "success", "error", "warning", "info")
        for e in getattr(at, kind)
    )


@pytest.fixture
def library_env(tmp_path, monkeypatch, use_placeholder):
    monkeypatch.setenv("CXR_DATA_DIR", str(tmp_path))
    return database_url()


def test_a_session_revoked_elsewhere_logs_the_page_out_at_its_next_click(library_env):
    uid = ensure_user("amy", ["student"])
    at = sign_in(app(), uid).run()
    assert "Logged in as **amy**" in texts(at)
    with session_scope(ensure_library(library_env)) as s:
        set_active(s, OPERATOR, "amy", False)
    at.run()
    assert at.title[0].value == "Log in" and "Your session has ended" in texts(at)


def test_an_idle_session_logs_the_page_out_and_the_login_form_says_why(library_env, monkeypatch):
    from sqlalchemy import update

    monkeypatch.setenv("CXR_SESSION_IDLE_MINUTES", "45")
    uid = ensure_user("amy", ["student"])
    at = sign_in(app(), uid).run()
    assert "Logged in as **amy**" in texts(at)
    with session_scope(ensure_library(library_env)) as s:  # nothing for 46 minutes
        s.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=46)))
    at.run()
    assert at.title[0].value == "Log in"
    assert "You were logged out after 45 minutes without activity" in texts(at)
    assert "Your session has ended" not in texts(at)
    at.session_state["ui_language"] = "ko"
    at.run()
    assert "활동이 없어 45분 뒤에 로그아웃되었습니다" in texts(at)


def test_users_page_roles_reset_and_form_errors(library_env):
    ensure_user("boss", ["instructor"])
    uid = ensure_user("amy", ["student"])
    amy_page = sign_in(app(), uid).run()
    at = sign_in(AppTest.from_file("../pages/users.py", default_timeout=300), ensure_user("boss", ["instructor"])).run()
    assert not at.exception, at.exception
    at.text_input(key="user_add_name").input("newbie")
    at.text_input(key="user_add_password").input("long enough pw")
    at.multiselect(key="user_add_roles").set_value([])
    at.button(key="user_add_submit").click().run()
    assert at.error[0].value == "Choose at least one role; nobody was added."
    with session_scope(ensure_library(library_env)) as s:
        assert find_user(s, "newbie") is None
    at.multiselect(key="user_roles_pick_amy").set_value(["student", "reviewer"])
    at.button(key="user_roles_save_amy").click().run()
    assert not at.exception, at.exception
    with session_scope(ensure_library(library_env)) as s:
        assert [r.role for r in find_user(s, "amy").roles] == ["reviewer", "student"]
    amy_page.run()
    assert amy_page.title[0].value == "Log in"  # the role change ended her session
    at.button(key="user_reset_amy").click().run()
    one_time = at.code[0].value
    assert "shown only now" in texts(at) and len(one_time) >= 12
    at.run()
    assert not at.code  # shown once
    # Amy logs in with it and meets the forced change on every address.
    login = app().run()
    login.text_input(key="login_name").input("amy")
    login.text_input(key="login_password").input(one_time)
    login.button(key="login_submit").click().run()
    assert login.title[0].value == "Your account" and "reset your password" in texts(login)
    login.switch_page("pages/account.py")  # the only page there is until the password is changed
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        login.switch_page("pages/quiz.py")
    login.text_input(key="password_old").input(one_time)
    login.text_input(key="password_new").input("amy's own pw")
    login.text_input(key="password_again").input("amy's own pw")
    login.button(key="password_submit").click().run()
    assert not login.exception, login.exception
    assert "Password changed" in texts(login) and "Logged in as **amy**" in texts(login)
    with session_scope(ensure_library(library_env)) as s:
        assert authenticate(s, "amy", "amy's own pw").ok and not find_user(s, "amy").must_change_password


def test_changing_ones_password_asks_for_the_old_one(library_env):
    uid = ensure_user("amy", ["student"])
    at = sign_in(AppTest.from_file("../pages/account.py", default_timeout=300), uid).run()
    at.text_input(key="password_old").input("wrong password")
    at.text_input(key="password_new").input("another password")
    at.text_input(key="password_again").input("another password")
    at.button(key="password_submit").click().run()
    assert at.error[0].value == "The current password is wrong; nothing was changed."
    with session_scope(ensure_library(library_env)) as s:
        assert authenticate(s, "amy", TEST_PASSWORD).ok


def test_upgrading_to_0010_keeps_users_who_need_no_password_change(library_url):
    from sqlalchemy import inspect, text

    from db.engine import make_engine, upgrade

    engine = make_engine(library_url)
    upgrade(engine, "0009")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, name, password_hash, active, failed_logins, created_at) "
                "VALUES (1, 'old', 'x', :t, 0, CURRENT_TIMESTAMP)"
            ),
            {"t": True},
        )
    assert "sessions" not in inspect(engine).get_table_names()
    upgrade(engine, "head")
    with session_scope(engine) as s:
        assert find_user(s, "old").must_change_password is False
        assert live_count(s, 1) == 0
    engine.dispose()
