"""CXR Teaching Lab: the router and shared sidebar. Run with `streamlit run Home.py`.

Navigation is built per role: a page the user may not open is not in it (and every page checks
the role again itself). Without a logged-in user only the login page — or, on a brand-new install
with no users, the first-run setup — exists.
"""

import streamlit as st

from pages.auth_ui import account_sidebar, current_user, first_run_page, library_has_users, login_page
from pages.common import sidebar

st.set_page_config(page_title="CXR Teaching Lab", page_icon=":material/radiology:", layout="wide")

# (section, path, title, icon, role needed; None = any logged-in user)
PAGES = [
    ("Learn", "pages/welcome.py", "Welcome", ":material/home:", None),
    ("Learn", "pages/analyze.py", "Analyze", ":material/search:", None),
    ("Learn", "pages/explain.py", "Explain", ":material/grid_view:", None),
    ("Learn", "pages/quiz.py", "Quiz", ":material/quiz:", "student"),
    ("Library", "pages/case_gallery.py", "Case Gallery", ":material/photo_library:", "instructor"),
    ("Library", "pages/model_limits.py", "Model Limits", ":material/flag:", "reviewer"),
    ("Library", "pages/dashboard.py", "Class Dashboard", ":material/monitoring:", "instructor"),
    ("Library", "pages/users.py", "Users", ":material/group:", "instructor"),
    ("About", "pages/model_card.py", "Model Card", ":material/description:", None),
]

user = current_user()
if user is None:
    has_users = library_has_users()
    if has_users is None:
        st.stop()  # the library cannot be reached; the message is shown
    entry = (
        st.Page(login_page, title="Log in", icon=":material/login:", url_path="login")
        if has_users
        else st.Page(first_run_page, title="First-run setup", icon=":material/admin_panel_settings:", url_path="setup")
    )
    navigation = st.navigation([entry])
else:
    sections: dict[str, list] = {}
    for section, path, title, icon, role in PAGES:
        if role is None or user.can(role):
            sections.setdefault(section, []).append(st.Page(path, title=title, icon=icon, default=path == PAGES[0][1]))
    navigation = st.navigation(sections)
    account_sidebar(user)
sidebar()
navigation.run()
