"""Instructors add users and deactivate or reactivate them."""

import streamlit as st

from core.vocabulary import ROLES
from db.errors import LibraryError
from db.users import create_user, list_users, set_active
from pages.auth_ui import require_role
from pages.common import disclaimer
from pages.i18n_ui import _, choices_placeholder, ngettext, role_name, worded
from pages.library_ui import Unavailable, library_or_stop, lost_connection_shown, session

me = require_role("instructor")
st.title(_("Users"))
disclaimer()
engine = library_or_stop()

with st.form("user_add", clear_on_submit=True):
    st.subheader(_("Add a user"))
    name = st.text_input(_("User name"), key="user_add_name")
    password = st.text_input(
        _("First password (at least 8 characters; tell them in person)"), type="password", key="user_add_password"
    )
    roles = st.multiselect(
        _("Roles"),
        ROLES,
        default=["student"],
        format_func=role_name,
        key="user_add_roles",
        placeholder=choices_placeholder(ROLES),
        help=_("An instructor holds every role."),
    )
    if st.form_submit_button(_("Add user"), icon=":material/person_add:", key="user_add_submit"):
        require_role("instructor")  # checked again at the moment of writing
        try:
            with lost_connection_shown(), session(engine) as s:
                create_user(s, name, password, roles)
            st.success(_("Added {name}.", name=repr(name.strip().lower())))
        except LibraryError as exc:
            st.error(_("{reason} Nobody was added.", reason=worded(exc)))
        except Unavailable:
            pass

try:
    with lost_connection_shown(), session(engine) as s:
        rows = [(u.name, ", ".join(role_name(r.role) for r in u.roles), u.active) for u in list_users(s)]
except Unavailable:
    st.stop()
st.subheader(ngettext("{n} user", "{n} users", len(rows)))
for name, roles, active in rows:
    c = st.columns([3, 3, 2, 2])
    c[0].markdown(f"**{name}**" + ("" if active else " · _" + _("deactivated") + "_"))
    c[1].caption(roles)
    if name == me.name:
        c[2].caption(_("you"))
        continue
    label = _("Deactivate") if active else _("Reactivate")
    if c[2].button(label, key=f"user_toggle_{name}"):
        require_role("instructor")
        try:
            with lost_connection_shown(), session(engine) as s:
                set_active(s, name, not active)
            st.rerun()
        except LibraryError as exc:
            st.error(worded(exc))
        except Unavailable:
            pass
