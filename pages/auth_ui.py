"""Who is logged in, what they may open, and the login / first-run / logout faces.

A login is a server-side session (core.services.sessions): this page session holds only its id in
st.session_state, and every run checks it in the library again, so a logout, deactivation or password
change elsewhere ends it at the next click. A reload, a new tab or a restarted browser finds it again
through the HttpOnly cookie the browser sends (st.context.cookies); the cookie is written and cleared by
app.py's own routes (core.services.session_cookie), to which this module hands one-time codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import streamlit as st

from core.formatting import number
from core.safe_text import md
from core.services import session_cookie, sessions
from core.session_tokens import COOKIE_NAME
from core.settings import session_idle_minutes
from db.errors import LibraryError, is_connection_problem
from db.users import UNKNOWN_CLIENT, authenticate, create_first_instructor, effective_roles, has_users, set_language
from db.users import active_user as load_active_user
from pages.common import route_through_home
from pages.i18n_ui import LANGUAGE_KEY, _, language, role_name, worded
from pages.library_ui import Unavailable, library, lost_connection_shown, session

SESSION_KEY = "auth_session_id"
VERIFIED_KEY = "auth_verified"  # the identity as the database confirmed it on the last run
COOKIE_CHECKED = "auth_cookie_checked"  # the cookie this page session opened with was tried already
COOKIE_OFFER = "auth_cookie_offer"  # a one-time code the browser exchanges for the new cookie on this run
COOKIE_CLEAR = "auth_cookie_clear"  # ask the browser to drop its cookie on this run
ENDED_KEY = "auth_session_ended"  # the session ended elsewhere: the login form says why it is back
IDLE_KEY = "auth_session_idle"  # the session ended unused past the idle limit: the login form says so


@dataclass(frozen=True)
class SignedIn:
    id: int
    name: str
    roles: frozenset[str]
    language: str | None = None  # the interface language the user chose last (None: the browser's)
    must_change_password: bool = False  # after an instructor's reset: nothing else opens until it is changed
    session_id: int | None = None

    def can(self, role: str) -> bool:
        return role in self.roles


def client_address() -> str:
    """Who is trying to log in, as far as the login brake is concerned: the client's address (behind a
    reverse proxy, the proxy's), or one shared key when the server does not know it."""
    try:
        address = st.context.ip_address  # None on localhost; not a string outside a browser session (AppTest)
    except Exception:
        address = None
    return address if isinstance(address, str) and address else UNKNOWN_CLIENT


def browser_cookie() -> str | None:
    """The session cookie the browser sent when this page session opened (None in AppTest and without one)."""
    return st.context.cookies.get(COOKIE_NAME)


def _lookup(s, session_id: int | None) -> tuple[SignedIn | None, bool]:
    """(the user, from this page session's id or else once from the browser's cookie; whether it just went idle)."""
    if session_id is None and not st.session_state.get(COOKIE_CHECKED):
        cookie = browser_cookie()
        st.session_state[COOKIE_CHECKED] = True
        resumed = sessions.find(s, cookie) if cookie else None
        if cookie and (resumed is None or resumed.row is None):
            st.session_state[COOKIE_CLEAR] = True  # expired or revoked: the browser may as well drop it
        if resumed is not None and resumed.idle:
            return None, True
        session_id = resumed.row.id if resumed is not None and resumed.row is not None else None
    found = sessions.current(s, session_id)
    row = found.row
    user = load_active_user(s, row.user_id) if row is not None else None
    if row is None or user is None:
        return None, found.idle
    roles = effective_roles(user)
    return SignedIn(user.id, user.name, roles, user.language, bool(user.must_change_password), row.id), False


class _WriteNeeded(Exception):
    """The lookup changed its session row (last seen, or revoked as idle): redo it in a writing transaction."""


def _lookup_reading_first(engine, session_id: int | None) -> tuple[SignedIn | None, bool]:
    """Every page run checks its session; most of those runs only read, so they do not wait for SQLite's write
    lock. Only the first run of a page session (the cookie path may make the signing key) and a run that
    must write (last seen, at most once a minute; an idle revocation) take a writing transaction."""
    if session_id is not None:
        try:
            with session(engine, read_only=True) as s, s.no_autoflush:
                result = _lookup(s, session_id)
                if s.dirty or s.new or s.deleted:
                    raise _WriteNeeded
            return result
        except _WriteNeeded:
            pass
    with session(engine) as s:
        return _lookup(s, session_id)


def acting_user_id() -> int | None:
    """The user this run acts as, as the library confirmed it at the top of the page (None: nobody), for
    writes made deep inside a panel. Each write checks the user's roles in the library again."""
    verified = st.session_state.get(VERIFIED_KEY)
    return verified.id if verified is not None else None


def current_user() -> SignedIn | None:
    session_id = st.session_state.get(SESSION_KEY)
    if session_id is None and st.session_state.get(COOKIE_CHECKED):
        return None
    engine = library()
    if engine is None:
        return None
    try:
        found, idle = _lookup_reading_first(engine, session_id)
    except Exception as exc:
        if not is_connection_problem(exc):
            raise
        # The database is down: keep the identity checked on the last run, so the page can still
        # render (and keep what the user typed). Nothing can be read or written until it is back,
        # and the page's own database call says so.
        last = st.session_state.get(VERIFIED_KEY)
        return last if last is not None and last.session_id == session_id else None
    if found is None:
        if session_id is not None or idle:  # ended elsewhere (logout, password change, deactivation), expired, idle
            _forget_everything()
            st.session_state[IDLE_KEY if idle else ENDED_KEY] = True
            st.session_state[COOKIE_CHECKED] = st.session_state[COOKIE_CLEAR] = True
    else:
        st.session_state[SESSION_KEY] = found.session_id
        st.session_state[VERIFIED_KEY] = found
    return found


def cookie_sync() -> None:
    """Hand the browser its new cookie (or tell it to drop the old one): one same-origin POST, once.

    The code in the script is single-use and lives a minute; the cookie itself never reaches the page.
    """
    code = st.session_state.pop(COOKIE_OFFER, None)
    clear = st.session_state.pop(COOKIE_CLEAR, False)
    if code:
        route, headers = session_cookie.SESSION_ROUTE, {session_cookie.HANDOFF_HEADER: code}
    elif clear:
        route, headers = session_cookie.LOGOUT_ROUTE, {}
    else:
        return
    options = {"method": "POST", "headers": headers, "credentials": "same-origin", "cache": "no-store"}
    st.html(f"<script>fetch({json.dumps(route)}, {json.dumps(options)});</script>", unsafe_allow_javascript=True)


def library_has_users() -> bool | None:
    """None when the library cannot be reached (the reason is already shown)."""
    engine = library()
    if engine is None:
        return None
    try:
        with lost_connection_shown(), session(engine, read_only=True) as s:
            return has_users(s)
    except Unavailable:
        return None


def require_login() -> SignedIn:
    """Without a logged-in user, whatever page was asked for shows the login form (or first-run setup) instead."""
    route_through_home()
    user = current_user()
    if user is None:
        has_users = library_has_users()
        if has_users:
            login_page()
        elif has_users is False:
            first_run_page()
        st.stop()
    return user


def require_role(role: str) -> SignedIn:
    """Server-side check at the top of a page and before each write: anyone else gets a message and nothing more."""
    user = require_login()
    if not user.can(role):
        st.error(
            _(
                "This is for the {role} role; your account ({name}) does not have it.",
                role=role_name(role),
                name=md(user.name),
            ),
            icon=":material/block:",
        )
        st.stop()
    return user


def _forget_everything() -> None:
    # Key by key: nothing from an earlier user's session survives (quiz in progress, uploads, identity).
    # The interface language stays: it is the person at this browser's, not the account's.
    for key in list(st.session_state.keys()):
        if key != LANGUAGE_KEY:
            del st.session_state[key]


def adopt_session(issued: sessions.Issued) -> None:
    """This page session now belongs to `issued`; the browser gets its cookie on the next run."""
    st.session_state[SESSION_KEY] = issued.session_id
    st.session_state[COOKIE_OFFER] = session_cookie.offer(issued)
    st.session_state[COOKIE_CHECKED] = True


def _sign_in(user_id: int) -> None:
    """A new session with a new token at every login (never one the browser brought along)."""
    engine = library()
    if engine is None:
        return
    try:
        with lost_connection_shown(), session(engine) as s:
            issued = sessions.issue(s, user_id)
    except Unavailable:
        return
    _forget_everything()
    adopt_session(issued)
    st.rerun()


def log_out() -> None:
    """End the session in the library (every tab of it), forget this page session, drop the cookie."""
    session_id = st.session_state.get(SESSION_KEY)
    engine = library()
    if engine is not None and session_id is not None:
        try:
            with lost_connection_shown(), session(engine) as s:
                sessions.end(s, session_id)
        except Unavailable:
            pass  # the cookie is still cleared; the session expires on its own
    _forget_everything()
    st.session_state[COOKIE_CHECKED] = st.session_state[COOKIE_CLEAR] = True


def login_page() -> None:
    st.title(_("Log in"))
    from pages.common import disclaimer

    disclaimer()
    if st.session_state.get(IDLE_KEY):
        minutes = session_idle_minutes()
        st.info(
            _(
                "You were logged out after {minutes} minutes without activity. Log in again.",
                minutes=number(minutes, 0 if minutes == int(minutes) else 1, language()),
            ),
            icon=":material/timer_off:",
        )
    elif st.session_state.get(ENDED_KEY):
        st.info(
            _("Your session has ended (logged out, password changed, or expired). Log in again."),
            icon=":material/lock_clock:",
        )
    with st.form("login_form", clear_on_submit=True):
        name = st.text_input(_("User name"), key="login_name")
        password = st.text_input(_("Password"), type="password", key="login_password")
        submitted = st.form_submit_button(_("Log in"), icon=":material/login:", key="login_submit")
    if not submitted:
        st.caption(_("No account? Ask your instructor."))
        return
    engine = library()
    if engine is None:
        return
    try:
        with lost_connection_shown(), session(engine) as s:
            result = authenticate(s, name, password, client=client_address())
    except Unavailable:
        return
    if result.ok:
        _sign_in(result.user_id)
    st.error(login_refusal(result), icon=":material/lock:")


def login_refusal(result) -> str:
    """db.users' refusal in the session's language (db/ itself stays English)."""
    message, wait = result.message, result.retry_after_seconds
    if message.startswith("Wrong user name or password.") and wait:
        return _(
            "Wrong user name or password. Too many failed logins: wait {seconds} s before trying again.", seconds=wait
        )
    if message.startswith("Too many failed logins"):
        return _("Too many failed logins: wait {seconds} s before trying again.", seconds=wait)
    if message.startswith("Wrong user name or password."):
        return _("Wrong user name or password.")
    if "deactivated" in message:
        return _("This account is deactivated; ask an instructor.")
    return message


def first_run_page() -> None:
    st.title(_("First-run setup"))
    from pages.common import disclaimer

    disclaimer()
    st.warning(
        _(
            "**This is a brand-new install: the library has no users yet.** Create the first instructor "
            "account now. Whoever completes this form manages every other account, so do it before "
            "sharing the address. (Scripts can use `python -m db users create NAME --role instructor`.)"
        ),
        icon=":material/admin_panel_settings:",
    )
    with st.form("setup_form", clear_on_submit=True):
        name = st.text_input(_("Instructor user name"), key="setup_name")
        password = st.text_input(_("Password (at least 8 characters)"), type="password", key="setup_password")
        again = st.text_input(_("Password again"), type="password", key="setup_password_again")
        submitted = st.form_submit_button(
            _("Create the first instructor"), icon=":material/person_add:", key="setup_submit"
        )
    if not submitted:
        return
    if password != again:
        st.error(_("The two passwords differ; nothing was created."))
        return
    engine = library()
    if engine is None:
        return
    try:
        with lost_connection_shown(), session(engine) as s:
            user_id = create_first_instructor(s, name, password).id
    except LibraryError as exc:
        st.error(_("{reason} Nothing was created.", reason=worded(exc)))
        return
    except Unavailable:
        return
    _sign_in(user_id)


def account_sidebar(user: SignedIn) -> None:
    with st.sidebar:
        roles = ", ".join(role_name(r) for r in sorted(user.roles))
        st.caption(_("Logged in as **{name}** · {roles}", name=md(user.name), roles=roles))
        st.button(_("Log out"), key="logout", icon=":material/logout:", on_click=log_out)


def save_language(user_id: int, language: str) -> None:
    """Remember the user's language choice; a library that cannot be reached only loses the memory of it."""
    engine = library()
    if engine is None:
        return
    try:
        with lost_connection_shown(), session(engine) as s:
            set_language(s, user_id, language)
    except (Unavailable, LibraryError):
        pass
