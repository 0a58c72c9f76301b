"""CXR Teaching Lab: the router and shared sidebar. Run with `streamlit run Home.py`.

Navigation is built per role: a page the user may not open is not in it (and every page checks
the role again itself). Without a logged-in user only the login page — or, on a brand-new install
with no users, the first-run setup — exists. Page titles and sections are in the session's language
(pages/i18n_ui.py); the language switch is in the sidebar.
"""

import streamlit as st

from pages.auth_ui import account_sidebar, current_user, first_run_page, library_has_users, login_page
from pages.common import sidebar
from pages.i18n_ui import N_, _, adopt_user_language

st.set_page_config(page_title="CXR Teaching Lab", page_icon=":material/radiology:", layout="wide")

# (section, path, title, icon, role needed; None = any logged-in user); titles are translated below.
PAGES = [
    (N_("Learn"), "pages/welcome.py", N_("Welcome"), ":material/home:", None),
    (N_("Learn"), "pages/analyze.py", N_("Analyze"), ":material/search:", None),
    (N_("Learn"), "pages/explain.py", N_("Explain"), ":material/grid_view:", None),
    (N_("Learn"), "pages/quiz.py", N_("Quiz"), ":material/quiz:", "student"),
    (N_("Library"), "pages/case_gallery.py", N_("Case Gallery"), ":material/photo_library:", "instructor"),
    (N_("Library"), "pages/model_limits.py", N_("Model Limits"), ":material/flag:", "reviewer"),
    (N_("Library"), "pages/dashboard.py", N_("Class Dashboard"), ":material/monitoring:", "instructor"),
    (N_("Library"), "pages/users.py", N_("Users"), ":material/group:", "instructor"),
    (N_("About"), "pages/model_card.py", N_("Model Card"), ":material/description:", None),
]

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
    for section, path, title, icon, role in PAGES:
        if role is None or user.can(role):
            sections.setdefault(_(section), []).append(
                st.Page(path, title=_(title), icon=icon, default=path == PAGES[0][1])
            )
    navigation = st.navigation(sections)
    account_sidebar(user)
sidebar(user)
navigation.run()
