"""Instructors add users, edit their roles, reset their passwords, and deactivate or reactivate them.

Each change that alters what a user may do or how they log in (roles, reset, deactivation) ends that
user's sessions (db.users); a reset shows a one-time password once, to be changed at the next login.
"""

import streamlit as st

from core.safe_text import md
from core.vocabulary import ROLES
from db.errors import LibraryError
from db.users import MIN_PASSWORD_LENGTH, create_user, list_users, reset_password, set_active, set_roles
from pages.auth_ui import require_role
from pages.common import disclaimer
from pages.i18n_ui import _, choices_placeholder, ngettext, role_name, worded
from pages.library_ui import Unavailable, library_or_stop, lost_connection_shown, session

me = require_role("instructor")
st.title(_("Users"))
disclaimer()
engine = library_or_stop()


def write(change, done: str, refused: str) -> bool:
    """One change in its own transaction, checked against the role again at the moment of writing."""
    require_role("instructor")
    try:
        with lost_connection_shown(), session(engine) as s:
            change(s)
    except LibraryError as exc:
        st.error(f"{worded(exc)} {refused}")  # the library's reason, then what did not happen
        return False
    except Unavailable:
        return False
    if done:
        st.success(done)
    return True


def role_picker(key: str, default: list[str]) -> list[str]:
    return st.multiselect(
        _("Roles"),
        ROLES,
        default=default,
        format_func=role_name,
        key=key,
        placeholder=choices_placeholder(ROLES),
        help=_("An instructor holds every role."),
    )


with st.form("user_add", clear_on_submit=True):
    st.subheader(_("Add a user"))
    name = st.text_input(_("User name"), key="user_add_name")
    password = st.text_input(
        _("First password (at least {n} characters; tell them in person)", n=MIN_PASSWORD_LENGTH),
        type="password",
        key="user_add_password",
    )
    roles = role_picker("user_add_roles", ["student"])
    if st.form_submit_button(_("Add user"), icon=":material/person_add:", key="user_add_submit"):
        if not roles:
            st.error(_("Choose at least one role; nobody was added."))
        else:
            write(
                lambda s: create_user(s, me.id, name, password, roles),
                _("Added {name}.", name=md(repr(name.strip().lower()))),
                _("Nobody was added."),
            )

try:
    with lost_connection_shown(), session(engine) as s:
        rows = [(u.name, [r.role for r in u.roles], u.active) for u in list_users(s)]
except Unavailable:
    st.stop()
st.subheader(ngettext("{n} user", "{n} users", len(rows)))
for name, held, active in rows:
    c = st.columns([3, 4, 2, 2])
    c[0].markdown(f"**{md(name)}**" + ("" if active else " · _" + _("deactivated") + "_"))
    if name == me.name:
        c[1].caption(", ".join(role_name(r) for r in held))
        c[2].caption(_("you (change your password under Your account)"))
        continue
    with c[1].form(f"user_roles_{name}", border=False):
        chosen = role_picker(f"user_roles_pick_{name}", held)
        if st.form_submit_button(_("Save roles"), key=f"user_roles_save_{name}"):
            if not chosen:
                st.error(_("Choose at least one role; the roles were not changed."))
            elif sorted(chosen) != sorted(held) and write(
                lambda s, n=name, r=chosen: set_roles(s, me.id, n, r), "", _("The roles were not changed.")
            ):
                st.rerun()
    one_time: list[str] = []
    with c[2].popover(_("Reset password"), icon=":material/key:"):
        st.caption(
            _(
                "{name} gets a one-time password, shown here once, and must choose a new one at the next "
                "login. Every session of theirs ends now.",
                name=md(name),
            )
        )
        if st.button(_("Reset the password of {name}", name=md(name)), key=f"user_reset_{name}", type="primary"):
            write(
                lambda s, n=name, kept=one_time: kept.append(reset_password(s, me.id, n)),
                "",
                _("The password was not reset."),
            )
    if one_time:  # below the row, not in the popover (which closes): shown on this run only, never kept
        st.success(_("One-time password for {name} (shown only now; tell them in person):", name=md(name)))
        st.code(one_time[0], language=None)
    label = _("Deactivate") if active else _("Reactivate")
    if c[3].button(label, key=f"user_toggle_{name}"):
        if write(lambda s, n=name, a=active: set_active(s, me.id, n, not a), "", _("Nothing was changed.")):
            st.rerun()
