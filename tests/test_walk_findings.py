"""What the browser walk-through of issue 16 found, each fixed and held here (AppTest on a real SQLite library)."""

import json

import pytest
from auth_support import TEST_PASSWORD, ensure_user, logged_in
from db_support import small_folder
from quiz_support import start_quiz
from streamlit.testing.v1 import AppTest
from test_analyze_guard_page import camera_png
from test_app import upload
from test_db_pages import fill, gallery, library_env, texts
from test_limits_page import limits_library, open_page
from test_quiz_and_roles import app, log_in
from test_quiz_review_dashboard import _open_dashboard, class_results, four_cases

from core.settings import database_url
from db import teaching
from db.engine import ensure_library, session_scope
from db.operator import OPERATOR

__all__ = ["class_results", "four_cases", "library_env", "limits_library"]  # fixtures, used by name


def fresh(name="tester", roles=("instructor",)) -> AppTest:
    import streamlit as st

    st.cache_resource.clear()
    at = AppTest.from_file("../Home.py", default_timeout=300)
    logged_in(at, name, roles)
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(x.proto.spec) for x in at.get("plotly_chart")]


# ---------- 1. gallery filters survive a case and the sets view, and live in the URL -------------------------


def test_gallery_filters_come_back_after_a_case_and_the_sets_view_and_from_the_url(
    library_env, use_placeholder, kermany_test_dir, tmp_path
):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=1))
    at = gallery(fresh().run())
    at.selectbox(key="f_truth").set_value("PNEUMONIA").run()
    at.selectbox(key="f_per_page").set_value(12).run()
    assert "2 cases match" in texts(at)
    assert at.query_params["truth"] == "PNEUMONIA" and at.query_params["per_page"] == "12"
    assert "sort" not in at.query_params  # defaults are not written

    case_id = int(next(b.key for b in at.button if b.key.startswith("open_")).split("_")[1])
    at.button(key=f"open_{case_id}").click().run()
    assert any(str(h.value).startswith(f"Case #{case_id}:") for h in at.subheader)
    at.button(key="case_back").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="f_truth").value == "PNEUMONIA" and "2 cases match" in texts(at)
    assert at.selectbox(key="f_per_page").value == 12

    at.radio(key="gallery_view").set_value("Teaching sets").run()
    at.radio(key="gallery_view").set_value("Cases").run()
    assert at.selectbox(key="f_truth").value == "PNEUMONIA" and "2 cases match" in texts(at)

    # A shared address opens on the same view; what the page does not offer is ignored.
    shared = fresh()
    shared.query_params.update({"truth": "unlabelled", "per_page": "48", "sort": "no-such-sort"})
    gallery(shared.run())
    assert not shared.exception, shared.exception
    assert "1 cases match" in texts(shared) and shared.selectbox(key="f_per_page").value == 48
    assert shared.selectbox(key="f_sort").value == "newest"


# ---------- 2 and 4. the dashboard names the probability; its chart is hardest first ---------------------------


def test_dashboard_names_the_probability_and_orders_its_chart_hardest_first(class_results, monkeypatch):
    engine, (a, b, c), _users = class_results
    at, _downloads = _open_dashboard(monkeypatch)
    table_order = [int(x.key.rsplit("_", 1)[1]) for x in at.button if x.key.startswith("dash_open_")]
    assert table_order == [b, a, c]
    [chart] = [x for x in charts(at) if any(str(v).startswith("#") for t in x["data"] for v in t.get("x", []))]
    assert chart["layout"]["xaxis"]["categoryarray"] == [f"#{i}" for i in table_order]
    assert chart["layout"]["xaxis"]["categoryorder"] == "array"
    model_cells = [m.value for m in at.markdown if "· right" in m.value or "· wrong" in m.value]
    assert len(model_cells) == 3 and all("(P(pneumonia) " in cell for cell in model_cells)


# ---------- 3. one streak, in one place --------------------------------------------------------------------------


def test_the_quiz_shows_one_streak_counted_across_quizzes(four_cases):
    engine, (a, b, c, _e), truth, set_id = four_cases
    ensure_user("sam", ["student"])
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    at.switch_page("pages/quiz.py").run()

    def take(length: int, rights: list[bool]) -> None:
        started = start_quiz(at, engine, set_id, length=length)
        for position, (case_id, right) in enumerate(zip(started.case_ids, rights, strict=True)):
            other = "NORMAL" if truth[case_id] == "PNEUMONIA" else "PNEUMONIA"
            at.radio(key=f"quiz_answer_{started.id}_{position}").set_value(truth[case_id] if right else other)
            at.button(key=f"quiz_submit_{started.id}_{position}").click().run()
            at.button(key=f"quiz_next_{started.id}_{position}").click().run()

    take(3, [True, True, False])  # best 2, current 0
    at.button(key="quiz_again").click().run()
    take(1, [True])  # the missed case again: current 1; within this quiz alone it would be "1 (1)"
    assert "Quiz finished" in texts(at)
    streak_metrics = [(m.label, m.value) for m in at.metric if "streak" in m.label.lower()]
    assert streak_metrics == [("Streak (best)", "1 (2)")]
    assert all("streak" not in column for column in at.dataframe[0].value.columns)
    at.button(key="quiz_again").click().run()  # the start screen: the same streak, once
    assert [(m.label, m.value) for m in at.metric if "streak" in m.label.lower()] == [("Streak (best)", "1 (2)")]


# ---------- 5. labelled bars, a whole region name, no negative zero ------------------------------------------------


def test_every_error_rate_bar_is_labelled(limits_library):
    at = open_page()
    at.radio(key="lim_view").set_value("Summary").run()
    assert not at.exception, at.exception
    [rates] = [x for x in charts(at) if x["layout"]["title"]["text"] == "Error rate by flag (labelled cases)"]
    [bars] = rates["data"]
    assert len(bars["text"]) == len(bars["x"]) == 5 and all(" of " in t for t in bars["text"])
    # Inside ("auto") a bar of height 0 has no room for its label; above it, every bar has one.
    assert bars["textposition"] == "outside" and bars["cliponaxis"] is False


def test_the_peak_region_is_written_whole(limits_weights_dir, kermany_test_dir, monkeypatch):
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(limits_weights_dir))
    image = next((kermany_test_dir / "PNEUMONIA").glob("*.jpeg"))
    at = upload(fresh().run(), "case.jpeg", image.read_bytes())
    if any(b.key == "analyze_anyway" for b in at.button):  # the random lung U-Net may not find two lung fields
        at.button(key="analyze_anyway").click().run()
    assert not at.exception, at.exception
    assert "Heatmap on the lungs" in [m.label for m in at.metric]
    assert "Peak lies on" not in [m.label for m in at.metric]  # a metric cut "below diaphragm" short
    assert "The heatmap's peak lies on: **" in texts(at)


# ---------- 6. Welcome lists what the role may open ------------------------------------------------------------


@pytest.mark.parametrize(
    "roles, listed, unlisted",
    [
        (("student",), ["Quiz", "Analyze", "Explain"], ["Case Gallery", "Model Limits", "Class Dashboard", "Users"]),
        (("reviewer",), ["Model Limits", "Explain"], ["Quiz", "Case Gallery", "Class Dashboard", "Users"]),
        (("instructor",), ["Quiz", "Case Gallery", "Model Limits", "Class Dashboard", "Users", "Explain"], []),
    ],
)
def test_welcome_lists_only_the_pages_the_role_may_open(library_env, use_placeholder, roles, listed, unlisted):
    at = fresh("pat", roles).run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert all(f"**{title}**" in shown for title in listed)
    assert not [title for title in unlisted if f"**{title}**" in shown]


# ---------- 7. a shorter quiz says so -----------------------------------------------------------------------------


def test_a_quiz_with_fewer_cases_than_asked_says_so(four_cases):
    engine, _ids, _truth, set_id = four_cases  # the set holds three cases
    ensure_user("sam", ["student"])
    at = log_in(app().run(), "sam", TEST_PASSWORD)
    at.switch_page("pages/quiz.py").run()
    started = start_quiz(at, engine, set_id, length=5)
    assert len(started.case_ids) == 3
    assert any("You asked for 5 cases, but only 3 cases can be used" in i.value for i in at.info)


# ---------- 8. the report language is the user's last choice ---------------------------------------------------


def test_the_report_language_stays_as_chosen_for_the_next_upload(use_trained_weights, xray_bytes, kermany_test_dir):
    at = upload(fresh().run(), "first.jpeg", xray_bytes)
    assert at.radio(key="report_language").value == "en"  # the interface's language to start with
    at.radio(key="report_language").set_value("ko").run()
    # Another page and back: the upload and the radio are gone (a widget not drawn forgets its value).
    at.switch_page("pages/welcome.py").run()
    at.switch_page("pages/analyze.py").run()
    other = next((kermany_test_dir / "NORMAL").glob("*.jpeg")).read_bytes()
    at.file_uploader(key="analyze_upload").set_value(("second.jpeg", other, "image/jpeg")).run()
    assert not at.exception, at.exception
    assert at.radio(key="report_language").value == "ko"


# ---------- 9. "Analyze anyway" is asked again for each upload --------------------------------------------------


def test_the_same_file_uploaded_again_is_checked_and_asked_about_again(exported_weights_dir, monkeypatch):
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(exported_weights_dir))
    photo = camera_png()
    at = upload(fresh().run(), "cameraman.png", photo, "image/png")
    at.button(key="analyze_anyway").click().run()
    assert any("Analysed anyway" in w.value for w in at.warning)
    at.file_uploader(key="analyze_upload").set_value(("cameraman.png", photo, "image/png")).run()
    assert not at.exception, at.exception
    assert any("was not analysed" in e.value for e in at.error) and not at.metric
    assert any(b.key == "analyze_anyway" for b in at.button)  # asked again


# ---------- 10. a published set changes only by an instructor's hand --------------------------------------------


def test_a_reviewer_is_neither_offered_nor_allowed_a_published_set(limits_library):
    _version, ids = limits_library
    case_id = ids["fp_marker"]
    engine = ensure_library(database_url())
    with session_scope(engine) as s:
        week = teaching.create_set(s, OPERATOR, "Week 1")
        teaching.add_to_set(s, OPERATOR, week.id, [ids["ok_clean"]])
        teaching.publish_set(s, OPERATOR, week.id)
        draft = teaching.create_set(s, OPERATOR, "Drafts").id
        published = week.id
    at = open_page()
    at.button(key=f"lim_open_{case_id}").click().run()
    assert not at.exception, at.exception
    offered = at.selectbox(key=f"lim_set_target_{case_id}").options
    assert "Drafts" in offered and "Week 1" not in offered
    at.selectbox(key=f"lim_set_target_{case_id}").set_value("Drafts").run()
    at.button(key=f"lim_add_set_{case_id}").click().run()
    assert f"Added case #{case_id} to Drafts." in texts(at)

    # The write refuses on its own, whatever a page offered.
    from db.errors import Forbidden

    reviewer, instructor = ensure_user("rita", ["reviewer"]), ensure_user("ida", ["instructor"])
    with session_scope(engine) as s, pytest.raises(Forbidden, match="Only an instructor"):
        teaching.add_to_set(s, reviewer, published, [case_id])
    with session_scope(engine) as s:
        assert teaching.set_case_ids(s, published) == [ids["ok_clean"]]
        assert teaching.add_to_set(s, instructor, published, [case_id]) == 1
        assert teaching.add_to_set(s, reviewer, draft, [ids["ok_clean"]]) == 1
