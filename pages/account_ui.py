"""Changing one's own password: the current one is required; every other session of the user ends."""

from __future__ import annotations

import streamlit as st

from core.services import sessions
from db.errors import LibraryError
from db.users import MIN_PASSWORD_LENGTH, WrongPassword
from pages.auth_ui import SignedIn, adopt_session
from pages.i18n_ui import _
from pages.library_ui import Unavailable, library_or_stop, lost_connection_shown, session

CHANGED_KEY = "account_password_changed"  # shown once after the rerun that follows a change


def password_change_form(user: SignedIn) -> None:
    if st.session_state.pop(CHANGED_KEY, False):
        st.success(_("Password changed. Every other session of yours has ended."), icon=":material/check:")
    with st.form("password_change", clear_on_submit=True):
        st.subheader(_("Change your password"))
        old = st.text_input(_("Current password"), type="password", key="password_old")
        new = st.text_input(
            _("New password (at least {n} characters)", n=MIN_PASSWORD_LENGTH), type="password", key="password_new"
        )
        again = st.text_input(_("New password again"), type="password", key="password_again")
        submitted = st.form_submit_button(_("Change password"), icon=":material/key:", key="password_submit")
    if not submitted:
        return
    if not old:
        st.error(_("Give your current password; nothing was changed."))
        return
    if len(new) < MIN_PASSWORD_LENGTH:
        st.error(_("The new password needs at least {n} characters; nothing was changed.", n=MIN_PASSWORD_LENGTH))
        return
    if new != again:
        st.error(_("The two new passwords differ; nothing was changed."))
        return
    if new == old:
        st.error(_("The new password is the same as the current one; nothing was changed."))
        return
    engine = library_or_stop()
    try:
        with lost_connection_shown(), session(engine) as s:
            issued = sessions.change_password(s, user.id, old, new)
    except WrongPassword as exc:
        st.error(
            _(
                "The current password is wrong, or there were too many tries: wait {seconds} s.",
                seconds=exc.retry_after_seconds,
            )
            if exc.retry_after_seconds
            else _("The current password is wrong; nothing was changed.")
        )
        return
    except LibraryError as exc:
        st.error(_("{reason} Nothing was changed.", reason=exc))
        return
    except Unavailable:
        return
    adopt_session(issued)  # rotation: this browser continues on a new token, every old one is revoked
    st.session_state[CHANGED_KEY] = True
    st.rerun()


def forced_password_change(user: SignedIn) -> None:
    """Every address, after an instructor's reset: the new password first."""
    st.title(_("Choose a new password"))
    st.warning(_("An instructor reset your password. Choose a new one to continue."), icon=":material/key:")
    password_change_form(user)
