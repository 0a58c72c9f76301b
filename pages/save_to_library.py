"""The Analyze page's "Save to library" button: the analysed upload stored as a case, once."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.analysis import Analysis
from db.errors import LibraryError
from pages.auth_ui import current_user, require_role
from pages.i18n_ui import _, worded
from pages.library_ui import Unavailable, library, lost_connection_shown


def save_to_library_button(result: Analysis, upload_name: str) -> None:
    user = current_user()
    if user is None or not user.can("instructor"):
        return  # only instructors curate the library
    saved = st.session_state.get("analyze_saved")
    key = (id(result), upload_name)  # the analysis object lives in session_state while this upload is shown
    if st.button(
        _("Save to library"),
        key="analyze_save",
        icon=":material/bookmark_add:",
        help=_("Stores the image (pixels only: no file metadata), the case and the model's output."),
    ):
        user = require_role("instructor")  # again at the moment of writing; the save checks in the library too
        engine = library()
        if engine is None:
            return
        from core.services.library_import import save_analysis

        try:
            with lost_connection_shown():
                title = Path(upload_name).stem or _("Uploaded case")
                saved = (key, save_analysis(engine, user.id, result, title=title, reports=_session_reports(result)))
        except Unavailable:
            return
        except LibraryError as exc:
            st.error(worded(exc), icon=":material/block:")
            return
        st.session_state["analyze_saved"] = saved
    if saved and saved[0] == key:
        case = saved[1]
        text = (
            _("Saved as case #{id}.", id=case.case_id)
            if case.created
            else _("This image is already in the library as case #{id}.", id=case.case_id)
        )
        if not case.prediction_stored:
            text += " " + _("No prediction was stored: no trained model is installed.")
        st.success(text, icon=":material/bookmark_added:")
        if st.button(_("Open it in the Case Gallery"), key="analyze_open_case"):
            st.session_state["gallery_case"] = case.case_id
            st.switch_page("pages/case_gallery.py")


def _session_reports(result: Analysis) -> list:
    """Reports written before saving: they join their case in the save's own transaction."""
    from core.reports import image_id
    from pages.report_panel import report_store

    store = report_store()
    return store.session_reports(image_id(result.image.pixels)) if hasattr(store, "session_reports") else []
