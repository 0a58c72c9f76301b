"""Streamlit AppTest: every page renders, and the Analyze flow end to end through file_uploader."""

import pytest
from auth_support import logged_in
from streamlit.testing.v1 import AppTest

PAGES = [
    "pages/welcome.py",
    "pages/analyze.py",
    "pages/case_gallery.py",
    "pages/model_limits.py",
    "pages/quiz.py",
    "pages/model_card.py",
    "pages/users.py",
]


def fresh_app() -> AppTest:
    import streamlit as st

    st.cache_resource.clear()  # each test picks its own weights folder
    at = AppTest.from_file("../Home.py", default_timeout=120)
    logged_in(at)  # an instructor: these tests are about the pages, not the login
    at.run()
    return at


def page_text(at: AppTest) -> str:
    parts = [
        e.value for kind in ("markdown", "info", "warning", "error", "caption", "title") for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_educational_notice(page, use_placeholder):
    at = fresh_app()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.title, "page has no title"
    assert "does not diagnose" in page_text(at)


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/jpeg") -> AppTest:
    at.switch_page("pages/analyze.py").run()
    at.file_uploader(key="analyze_upload").set_value((name, data, mime))
    return at.run()


def test_analyze_shows_prediction_overlay_and_version(use_trained_weights, xray_bytes):
    at = upload(fresh_app(), "case.jpeg", xray_bytes)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Model output"] in ("NORMAL", "PNEUMONIA")
    assert metrics["Probability of pneumonia"].endswith("%")
    assert len(metrics["Model version"]) == 12
    assert at.slider(key="analyze_view_opacity").value == 0.45
    at.slider(key="analyze_view_opacity").set_value(0.8).run()
    at.selectbox(key="analyze_view_preset").set_value("lung").run()
    assert not at.exception
    assert (at.slider(key="analyze_view_level").value, at.slider(key="analyze_view_width").value) == (100.0, 160.0)
    assert {m.label: m.value for m in at.metric} == metrics  # the viewer re-renders, never re-predicts


def test_analyze_refuses_non_image_with_a_specific_message(use_trained_weights):
    at = upload(fresh_app(), "notes.txt", b"hello, not an X-ray", "text/plain")
    assert not at.exception
    assert any("Not an image" in e.value for e in at.error)
    assert not at.metric


def test_analyze_with_placeholder_never_shows_a_prediction(use_placeholder, xray_bytes):
    at = upload(fresh_app(), "case.jpeg", xray_bytes)
    assert not at.exception
    assert any("No trained model is installed" in w.value for w in at.warning)
    assert not at.metric


def test_analyze_real_dicom_chest_cr(use_trained_weights):
    """A real MONOCHROME1 chest CR from pydicom-data, through the uploader."""
    from pathlib import Path

    import data_store  # ships with pydicom-data

    dicom = Path(data_store.__file__).parent / "data" / "RG1_UNCR.dcm"
    at = upload(fresh_app(), "chest.dcm", dicom.read_bytes(), "application/dicom")
    assert not at.exception, at.exception
    assert {m.label for m in at.metric} >= {"Model output", "Probability of pneumonia"}
    image = at.session_state["analysis"][1].image
    assert (image.width, image.height, image.source_format) == (1841, 1955, "DICOM")


def test_while_the_server_start_load_runs_the_login_page_does_not_wait_for_the_model(use_placeholder, monkeypatch):
    import threading

    import streamlit as st

    from pages import common

    real_service = common.ModelService
    st.cache_resource.clear()
    monkeypatch.setattr(common, "_WARMING", threading.Event())
    monkeypatch.setattr(common, "_LOADED", threading.Event())
    loads = []
    monkeypatch.setattr(common, "ModelService", lambda: loads.append(1) or real_service())
    common._WARMING.set()  # app.py's thread is loading the model; it has not finished
    at = AppTest.from_file("../Home.py", default_timeout=60).run()
    assert not at.exception, at.exception
    assert "Model: loading…" in page_text(at)
    assert loads == []
    common._WARMING.clear()  # served without app.py's hook (`streamlit run Home.py`): the page loads it itself
    at = AppTest.from_file("../Home.py", default_timeout=120).run()
    assert "Model: loading…" not in page_text(at)
    assert loads == [1]


def test_the_server_start_imports_what_every_page_imports():
    from pages.common import import_what_pages_import
    from pages.navigation import PAGES

    imported = import_what_pages_import()
    assert {"pages.explain_grid", "pages.report_panel", "core.services.class_dashboard"} <= set(imported)
    assert len(PAGES) >= 8
