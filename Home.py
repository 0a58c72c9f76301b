"""CXR Teaching Lab: the router and shared sidebar. Run with `streamlit run Home.py`.

Navigation is built per role: a page the user may not open is not in it (and every page checks
the role again itself). Without a logged-in user only the login page — or, on a brand-new install
with no users, the first-run setup — exists. Page titles and sections are in the session's language
(pages/i18n_ui.py); the language switch is in the sidebar.
"""

import streamlit as st

from pages.auth_ui import account_sidebar, current_user, first_run_page, library_has_users, login_page
from pages.common import sidebar
from pages.i18n_ui import _, adopt_user_language
from pages.navigation import HOME_PAGE, pages_for

st.set_page_config(page_title="CXR Teaching Lab", page_icon=":material/radiology:", layout="wide")


user = current_user()
if user is None:
    has_users = library_has_users()
    if has_users is None:
        st.stop()  # the library cannot be reached; the message is shown
    entry = (
        st.Page(login_page, title=_("Log in"), icon=":material/login:", url_path="login")
        if has_users
        else st.Page(
            first_run_page, title=_("First-run setup"), icon=":material/admin_panel_settings:", url_path="setup"
        )
    )
    navigation = st.navigation([entry])
else:
    adopt_user_language(user.id, user.language)
    sections: dict[str, list] = {}
    for page in pages_for(user):
        sections.setdefault(_(page.section), []).append(
            st.Page(page.path, title=_(page.title), icon=page.icon, default=page.path == HOME_PAGE)
        )
    navigation = st.navigation(sections)
    account_sidebar(user)
sidebar(user)
navigation.run()
