"""Your account: who you are, your roles, and changing your password."""

import streamlit as st

from core.safe_text import md
from pages.account_ui import password_change_form
from pages.auth_ui import require_login
from pages.common import disclaimer
from pages.i18n_ui import _, role_name

user = require_login()
st.title(_("Your account"))
disclaimer()
st.markdown(
    _(
        "Logged in as **{name}** · {roles}",
        name=md(user.name),
        roles=", ".join(role_name(r) for r in sorted(user.roles)),
    )
)
if user.must_change_password:
    st.warning(_("An instructor reset your password. Choose a new one to continue."), icon=":material/key:")
password_change_form(user)
