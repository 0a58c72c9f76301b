"""Streamlit AppTest of the Model Limits page on a real SQLite library holding chosen limits figures."""

import pytest
from auth_support import logged_in
from limits_support import add_limits_case, add_named_cases
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from test_db_pages import library_env, texts
from viewer_support import viewer_charts

from core.settings import database_url
from db import limits as lim
from db import teaching
from db.engine import ensure_library, session_scope
from db.models import FlagReview, LimitTag, UserRole

PAGE = "pages/model_limits.py"


def open_page(name="rita", roles=("reviewer",)) -> AppTest:
    import streamlit as st

    st.cache_resource.clear()
    at = AppTest.from_file("../Home.py", default_timeout=300)
    logged_in(at, name, roles)
    at.run()
    return at.switch_page(PAGE).run()


def card_ids(at: AppTest) -> list[int]:
    return [int(b.key.rsplit("_", 1)[1]) for b in at.button if b.key and b.key.startswith("lim_open_")]


@pytest.fixture
def limits_library(library_env, use_trained_weights):
    """Five cases with figures from the installed (random-weights, trained-format) model, one without."""
    from core.model_service import ModelService

    version = ModelService(use_trained_weights).version
    with session_scope(ensure_library(library_env)) as s:
        ids = add_named_cases(
            s, version, ["fp_marker", "fn_border", "ok_marker", "ok_clean", "fp_clean"], without_figures=["pending"]
        )
    return version, ids


def test_gallery_cards_sorted_by_lung_share_and_filters_change_the_set(limits_library):
    version, ids = limits_library
    at = open_page()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "does not diagnose" in shown
    assert "5 cases match" in shown and "1 do not yet (`python -m db limits` adds them)" in shown
    assert card_ids(at) == [ids["fp_marker"], ids["fn_border"], ids["ok_marker"], ids["fp_clean"], ids["ok_clean"]]
    assert len(at.image) == 3 * 5  # original, overlay and lung contour per card
    assert "In lungs 20%" in shown and "Heatmap on marker" in shown and "No flag" in shown
    assert "**false positive**" in shown

    at.multiselect(key="lim_f_flags").set_value(["heatmap_on_marker"]).run()
    assert card_ids(at) == [ids["fp_marker"], ids["ok_marker"]] and "2 cases match" in texts(at)
    at.selectbox(key="lim_f_error").set_value("Correct").run()
    assert card_ids(at) == [ids["ok_marker"]]
    at.multiselect(key="lim_f_flags").set_value([]).run()
    at.selectbox(key="lim_f_error").set_value("False positive").run()
    assert card_ids(at) == [ids["fp_marker"], ids["fp_clean"]]
    at.selectbox(key="lim_f_error").set_value("Any").run()
    at.selectbox(key="lim_f_sort").set_value("marker_delta").run()
    assert card_ids(at)[:2] == [ids["fp_marker"], ids["ok_marker"]]
    at.selectbox(key="lim_f_per_page").set_value(6).run()
    assert at.number_input(key="lim_f_page").value == 1

    at.radio(key="lim_view").set_value("Summary").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 4  # histogram, boxes, flag counts, error rate by flag
    assert {m.label: m.value for m in at.metric}["Labelled cases with figures"] == "5"


def test_detail_review_tags_and_teaching_set(limits_library):
    version, ids = limits_library
    case_id = ids["fp_marker"]
    at = open_page()
    at.button(key=f"lim_open_{case_id}").click().run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert f"Case #{case_id}" in shown and "Counterfactuals" in shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["P(pneumonia)"] == "80.0%" and metrics["P(pneumonia), marker erased"] == "10.0%"
    assert metrics["P(pneumonia), outside blanked"] == "61.0%" and metrics["Faithfulness score"] == "0.47"
    assert len(viewer_charts(at)) == 1  # the viewer: Grad-CAM, lung outline and markers on the stored image
    assert len(at.image) == 1 + 3  # its colour bar, then model input, marker erased, outside blanked

    at.button(key=f"lim_confirmed_{case_id}_heatmap_on_marker").click().run()
    assert not at.exception, at.exception
    assert "Heatmap on marker: confirmed." in texts(at) and "Latest: **confirmed** by rita" in texts(at)
    at.button(key=f"lim_rejected_{case_id}_heatmap_outside_lungs").click().run()
    at.multiselect(key=f"lim_tagsel_{case_id}").set_value(["R marker", "border"]).run()
    at.button(key=f"lim_tags_save_{case_id}").click().run()
    assert "Tags saved." in texts(at)
    at.selectbox(key=f"lim_set_target_{case_id}").set_value("New set “Model limits”").run()
    at.button(key=f"lim_add_set_{case_id}").click().run()
    assert not at.exception, at.exception
    assert f"Added case #{case_id} to Model limits." in texts(at) and "In: Model limits" in texts(at)

    engine = ensure_library(database_url())
    with session_scope(engine) as s:
        reviews = s.execute(
            select(FlagReview.flag, FlagReview.verdict, FlagReview.reviewer, FlagReview.model_version).order_by(
                FlagReview.id
            )
        ).all()
        assert [tuple(r) for r in reviews] == [
            ("heatmap_on_marker", "confirmed", "rita", version),
            ("heatmap_outside_lungs", "rejected", "rita", version),
        ]
        assert sorted(s.scalars(select(LimitTag.tag).where(LimitTag.case_id == case_id))) == ["R marker", "border"]
        [model_limits_set] = teaching.list_sets(s)
        assert model_limits_set.name == "Model limits" and teaching.set_case_ids(s, model_limits_set.id) == [case_id]

    at.button(key="lim_back").click().run()
    at.selectbox(key="lim_f_review").set_value("A flag confirmed").run()
    assert card_ids(at) == [case_id]
    at.selectbox(key="lim_f_review").set_value("Any").run()
    at.multiselect(key="lim_f_tags").set_value(["R marker"]).run()
    assert card_ids(at) == [case_id] and "Reviewer tags: `R marker` `border`" in texts(at)


def test_a_reviewer_who_lost_the_role_cannot_write(limits_library):
    _version, ids = limits_library
    case_id = ids["fn_border"]
    at = open_page("omar", ("reviewer",))
    at.button(key=f"lim_open_{case_id}").click().run()
    engine = ensure_library(database_url())
    with session_scope(engine) as s:  # the role is taken away while the page is open
        s.execute(UserRole.__table__.delete().where(UserRole.role == "reviewer"))
    at.button(key=f"lim_confirmed_{case_id}_heatmap_on_border").click().run()
    assert not at.exception, at.exception
    assert "does not have it" in at.error[0].value
    with session_scope(engine) as s:
        assert s.scalar(select(FlagReview.id)) is None


def test_a_student_is_refused(limits_library):
    from auth_support import ensure_user, sign_in

    direct = AppTest.from_file(f"../{PAGE}", default_timeout=120)
    sign_in(direct, ensure_user("sam", ["student"]))
    direct.run()
    assert not direct.exception, direct.exception
    assert "your account (sam) does not have it" in direct.error[0].value
    assert not direct.image and not direct.button and not direct.markdown


def test_empty_state_without_figures_says_how_to_compute_them(library_env, use_trained_weights):
    from core.model_service import ModelService

    with session_scope(ensure_library(library_env)) as s:
        add_limits_case(s, ModelService(use_trained_weights).version, 1, "NORMAL", "NORMAL", 0.5, with_limits=False)
    at = open_page()
    assert not at.exception, at.exception
    assert "carries model-limits figures yet (1 predictions are waiting for them)" in texts(at)
    assert "`python -m db limits`" in texts(at) and not at.image and not card_ids(at)


def test_empty_state_without_a_trained_model(library_env, use_placeholder):
    at = open_page()
    assert not at.exception, at.exception
    assert "No trained model is installed" in texts(at) and "stays empty until a trained model is installed" in texts(
        at
    )
    assert not at.image
    with session_scope(ensure_library(library_env)) as s:
        assert lim.versions_with_limits(s) == []


def test_compute_button_fills_in_the_figures_with_the_real_probe(library_env, limits_weights_dir, monkeypatch):
    """A prediction stored without figures gets them from the page's button (the real segmenter and probe)."""
    from core.model_service import ModelService

    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(limits_weights_dir))
    with session_scope(ensure_library(library_env)) as s:
        case_id = add_limits_case(
            s, ModelService(limits_weights_dir).version, 1, "NORMAL", "NORMAL", 0.5, with_limits=False
        )
    at = open_page()
    assert not at.exception, at.exception
    at.button(key="limits_backfill").click().run()
    assert not at.exception, at.exception
    assert card_ids(at) == [case_id] and "1 cases match" in texts(at)
