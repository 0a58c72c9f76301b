"""CXR Teaching Lab: the router and shared sidebar. Served by `streamlit run app.py` (run.sh), which adds the cookie routes.

Navigation is built per role: a page the user may not open is not listed (its address says so
plainly, and every page checks the role again itself). Without a logged-in user every address shows
the login page — or, on a brand-new install with no users, the first-run setup — and after the login
the same address opens its page. A login outlives reloads and new tabs (pages/auth_ui.py; serve
through app.py for the cookie). Page titles and sections are in the session's language
(pages/i18n_ui.py); the language switch is in the sidebar.
"""

from pathlib import Path

import streamlit as st

from pages.account_ui import forced_password_change
from pages.auth_ui import account_sidebar, cookie_sync, current_user, first_run_page, library_has_users, login_page
from pages.common import sidebar
from pages.i18n_ui import N_, _, adopt_user_language, role_name

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
ACCOUNT = (N_("About"), "pages/account.py", N_("Your account"), ":material/manage_accounts:", None)


def url_path(path: str) -> str:
    return Path(path).stem  # what Streamlit derives from the file name, stated so the stand-ins below match


def stand_ins(show, skip: set[str] = frozenset()) -> list:
    """Hidden pages at the addresses of PAGES, each showing `show(role)` instead of the page.

    A typed address or a reload of /quiz before login (or of a page the role may not open) finds a page
    instead of Streamlit's "Page not found"; Streamlit keys a page by its url_path, so after the login
    rerun the same address is the real page.
    """
    return [
        st.Page(lambda role=role: show(role), title=_(title), url_path=url_path(path), visibility="hidden")
        for _section, path, title, _icon, role in [*PAGES, ACCOUNT]
        if url_path(path) not in skip
    ]


def not_for_your_role(user, role: str | None) -> None:
    st.error(
        _(
            "This is for the {role} role; your account ({name}) does not have it.",
            role=role_name(role or ""),
            name=user.name,
        ),
        icon=":material/block:",
    )


user = current_user()
if user is None:
    has_users = library_has_users()
    if has_users is None:
        st.stop()  # the library cannot be reached; the message is shown
    entry_page = login_page if has_users else first_run_page
    entry = (
        st.Page(login_page, title=_("Log in"), icon=":material/login:", url_path="login", default=True)
        if has_users
        else st.Page(
            first_run_page,
            title=_("First-run setup"),
            icon=":material/admin_panel_settings:",
            url_path="setup",
            default=True,
        )
    )
    navigation = st.navigation([entry, *stand_ins(lambda _role: entry_page())])
elif user.must_change_password:
    # After an instructor's reset nothing opens but the new password; every address shows that form.
    account = st.Page(
        ACCOUNT[1], title=_(ACCOUNT[2]), icon=":material/key:", url_path=url_path(ACCOUNT[1]), default=True
    )
    navigation = st.navigation(
        [account, *stand_ins(lambda _role: forced_password_change(user), skip={url_path(ACCOUNT[1])})]
    )
else:
    adopt_user_language(user.id, user.language)
    sections: dict[str, list] = {}
    for section, path, title, icon, role in PAGES:
        if role is None or user.can(role):
            sections.setdefault(_(section), []).append(
                st.Page(path, title=_(title), icon=icon, url_path=url_path(path), default=path == PAGES[0][1])
            )
    sections.setdefault(_(ACCOUNT[0]), []).append(
        st.Page(ACCOUNT[1], title=_(ACCOUNT[2]), icon=ACCOUNT[3], url_path=url_path(ACCOUNT[1]))
    )
    allowed = {url_path(p) for _s, p, _t, _i, role in [*PAGES, ACCOUNT] if role is None or user.can(role)}
    refused = stand_ins(lambda role: not_for_your_role(user, role), skip=allowed)
    navigation = st.navigation({**sections, "": refused} if refused else sections)
    account_sidebar(user)
cookie_sync()
sidebar(user)
navigation.run()
