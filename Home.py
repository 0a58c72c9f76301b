"""CXR Teaching Lab: the router and shared sidebar. Served by `streamlit run app.py` (run.sh), which adds the cookie routes.

Navigation is built per role: a page the user may not open is not listed (its address says so
plainly, and every page checks the role again itself). Without a logged-in user every address shows
the login page — or, on a brand-new install with no users, the first-run setup — and after the login
the same address opens its page. A login outlives reloads and new tabs (pages/auth_ui.py; serve
through app.py for the cookie). Page titles and sections are in the session's language
(pages/i18n_ui.py); the language switch is in the sidebar.
"""

import time

import streamlit as st

from core.safe_text import md
from pages.account_ui import forced_password_change
from pages.auth_ui import account_sidebar, cookie_sync, current_user, first_run_page, library_has_users, login_page
from pages.common import sidebar
from pages.i18n_ui import _, adopt_user_language, role_name
from pages.navigation import ACCOUNT_PAGE, HOME_PAGE, PAGES, pages_for, url_path
from pages.run_timing import timed_run

run_started = time.perf_counter()

st.set_page_config(page_title="CXR Teaching Lab", page_icon=":material/radiology:", layout="wide")


def stand_ins(show, skip: set[str] = frozenset()) -> list:
    """Hidden pages at the addresses of PAGES, each showing `show(role)` instead of the page.

    A typed address or a reload of /quiz before login (or of a page the role may not open) finds a page
    instead of Streamlit's "Page not found"; Streamlit keys a page by its url_path, so after the login
    rerun the same address is the real page.
    """
    return [
        st.Page(
            lambda role=page.role: show(role), title=_(page.title), url_path=url_path(page.path), visibility="hidden"
        )
        for page in PAGES
        if url_path(page.path) not in skip
    ]


def not_for_your_role(user, role: str | None) -> None:
    st.error(
        _(
            "This is for the {role} role; your account ({name}) does not have it.",
            role=role_name(role or ""),
            name=md(user.name),
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
        ACCOUNT_PAGE.path,
        title=_(ACCOUNT_PAGE.title),
        icon=":material/key:",
        url_path=url_path(ACCOUNT_PAGE.path),
        default=True,
    )
    navigation = st.navigation(
        [account, *stand_ins(lambda _role: forced_password_change(user), skip={url_path(ACCOUNT_PAGE.path)})]
    )
else:
    adopt_user_language(user.id, user.language)
    sections: dict[str, list] = {}
    allowed = pages_for(user)
    for page in allowed:
        sections.setdefault(_(page.section), []).append(
            st.Page(
                page.path,
                title=_(page.title),
                icon=page.icon,
                url_path=url_path(page.path),
                default=page.path == HOME_PAGE,
            )
        )
    refused = stand_ins(lambda role: not_for_your_role(user, role), skip={url_path(p.path) for p in allowed})
    navigation = st.navigation({**sections, "": refused} if refused else sections)
    account_sidebar(user)
with timed_run(run_started, navigation.url_path):
    cookie_sync()
    sidebar(user)
    navigation.run()
