"""Who is logged in, what they may open, and the login / first-run / logout faces.

Only the user's id lives in st.session_state (server-side); the user and their roles are read
from the database on every run, so a deactivated user is out at their next click.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from db.errors import LibraryError, is_connection_problem
from db.users import active_user as load_active_user
from db.users import authenticate, create_first_instructor, effective_roles, has_users, set_language
from pages.common import route_through_home
from pages.i18n_ui import LANGUAGE_KEY, _, role_name, worded
from pages.library_ui import Unavailable, library, lost_connection_shown, session

USER_KEY = "auth_user_id"
VERIFIED_KEY = "auth_verified"  # the identity as the database confirmed it on the last run


@dataclass(frozen=True)
class SignedIn:
    id: int
    name: str
    roles: frozenset[str]
    language: str | None = None  # the interface language the user chose last (None: the browser's)

    def can(self, role: str) -> bool:
        return role in self.roles


def current_user() -> SignedIn | None:
    user_id = st.session_state.get(USER_KEY)
    if user_id is None:
        return None
    engine = library()
    if engine is None:
        return None
    try:
        with session(engine) as s:
            user = load_active_user(s, user_id)
            found = SignedIn(user.id, user.name, effective_roles(user), user.language) if user else None
    except Exception as exc:
        if not is_connection_problem(exc):
            raise
        # The database is down: keep the identity checked on the last run, so the page can still
        # render (and keep what the user typed). Nothing can be read or written until it is back,
        # and the page's own database call says so.
        last = st.session_state.get(VERIFIED_KEY)
        return last if last is not None and last.id == user_id else None
    if found is None:
        st.session_state.pop(USER_KEY, None)
        st.session_state.pop(VERIFIED_KEY, None)
    else:
        st.session_state[VERIFIED_KEY] = found
    return found


def library_has_users() -> bool | None:
    """None when the library cannot be reached (the reason is already shown)."""
    engine = library()
    if engine is None:
        return None
    try:
        with lost_connection_shown(), session(engine) as s:
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
                name=user.name,
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


def _sign_in(user_id: int) -> None:
    _forget_everything()
    st.session_state[USER_KEY] = user_id
    st.rerun()


def login_page() -> None:
    st.title(_("Log in"))
    from pages.common import disclaimer

    disclaimer()
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
            result = authenticate(s, name, password)
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
        st.caption(_("Logged in as **{name}** · {roles}", name=user.name, roles=roles))
        st.button(_("Log out"), key="logout", icon=":material/logout:", on_click=_forget_everything)


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
