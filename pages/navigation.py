"""The app's pages and the role each needs: the one list the router's navigation and the Welcome page read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pages.i18n_ui import N_


@dataclass(frozen=True)
class PageEntry:
    section: str
    path: str
    title: str
    icon: str
    role: str | None  # None: any logged-in user
    blurb: str  # what the page is for, on the Welcome page (markdown)

    def open_to(self, user) -> bool:
        return self.role is None or user.can(self.role)


# Titles, sections and blurbs are marked here and translated where shown.
PAGES = [
    PageEntry(N_("Learn"), "pages/welcome.py", N_("Welcome"), ":material/home:", None, ""),
    PageEntry(
        N_("Learn"),
        "pages/analyze.py",
        N_("Analyze"),
        ":material/search:",
        None,
        N_("upload a chest X-ray (PNG, JPEG or DICOM) and see the prediction and heatmap."),
    ),
    PageEntry(
        N_("Learn"),
        "pages/explain.py",
        N_("Explain"),
        ":material/grid_view:",
        None,
        N_("many explanation methods side by side on one image, and which of them to trust."),
    ),
    PageEntry(
        N_("Learn"),
        "pages/quiz.py",
        N_("Quiz"),
        ":material/quiz:",
        "student",
        N_("test yourself against the library, and against the model."),
    ),
    PageEntry(
        N_("Library"),
        "pages/case_gallery.py",
        N_("Case Gallery"),
        ":material/photo_library:",
        "instructor",
        N_("browse the case library and curate teaching sets."),
    ),
    PageEntry(
        N_("Library"),
        "pages/model_limits.py",
        N_("Model Limits"),
        ":material/flag:",
        "reviewer",
        N_("cases where the heatmap sits on a marker, a rib edge or the border."),
    ),
    PageEntry(
        N_("Library"),
        "pages/dashboard.py",
        N_("Class Dashboard"),
        ":material/monitoring:",
        "instructor",
        N_("where the class struggles: per case, per student, per teaching set."),
    ),
    PageEntry(
        N_("Library"),
        "pages/users.py",
        N_("Users"),
        ":material/group:",
        "instructor",
        N_("add, activate and deactivate accounts and their roles."),
    ),
    PageEntry(
        N_("About"),
        "pages/model_card.py",
        N_("Model Card"),
        ":material/description:",
        None,
        N_("how the model was trained and how well it does."),
    ),
    PageEntry(
        N_("About"),
        "pages/account.py",
        N_("Your account"),
        ":material/manage_accounts:",
        None,
        N_("change your password."),
    ),
]
HOME_PAGE = PAGES[0].path
ACCOUNT_PAGE = PAGES[-1]  # the one page a user with a reset password can open


def pages_for(user) -> list[PageEntry]:
    """The pages this user may open, in menu order (each page checks the role again itself)."""
    return [page for page in PAGES if page.open_to(user)]


def url_path(path: str) -> str:
    return Path(path).stem  # what Streamlit derives from the file name, stated so the stand-ins in Home.py match
