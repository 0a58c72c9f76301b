"""The Explanation Lab in the app: the Explain page on a library case, and the grid on Analyze (AppTest)."""

import pytest
from db_support import small_folder
from sqlalchemy import func, select
from test_app import fresh_app, upload
from test_db_pages import fill, library_env, texts

from core.explain.methods import METHODS
from core.services import explanations as ex
from core.vocabulary import CLASS_NAMES
from db import teaching
from db.engine import ensure_library, session_scope
from db.models import Case, ExplanationMap
from db.operator import OPERATOR

FAST = [m for m in METHODS if not METHODS[m].slow]
SLOW = [m for m in METHODS if METHODS[m].slow]
CHEAPEST_SLOW = "occlusion"


def card_images(at) -> int:
    return len(at.image)


def test_explain_page_shows_every_method_stores_them_and_reruns_compute_nothing(
    library_env, use_trained_weights, kermany_test_dir, tmp_path, monkeypatch
):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=1, loose=0), use_trained_weights)
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        case_id = s.scalars(select(Case.id).order_by(Case.id)).first()
        week = teaching.create_set(s, OPERATOR, "Week 1")
        teaching.add_to_set(s, OPERATOR, week.id, [case_id])
    at = fresh_app()
    at.switch_page("pages/explain.py").run()
    at.radio(key="explain_source").set_value("library").run()
    assert not at.exception, at.exception
    # Colour scale, one card per fast method, the large card; slow methods wait for a click.
    assert card_images(at) == 1 + len(FAST) + 1
    assert {b.key for b in at.button} >= {f"explain_compute_{m}" for m in SLOW}
    shown = texts(at)
    assert "gradient-based" in shown and "activation-based" in shown and "relevance propagation" in shown
    assert "educational" in shown.lower()
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(ExplanationMap)) == len(FAST)

    at.button(key=f"explain_compute_{CHEAPEST_SLOW}").click().run()
    assert not at.exception, at.exception
    assert card_images(at) == 1 + len(FAST) + 1 + 1
    with session_scope(engine) as s:
        stored = set(s.scalars(select(ExplanationMap.method)))
    assert stored == set(FAST) | {CHEAPEST_SLOW}

    monkeypatch.setattr(ex, "explain", lambda *a, **k: pytest.fail("a rerun computed a map"))
    at.selectbox(key="explain_cmap").set_value("jet").run()
    at.slider(key="explain_opacity").set_value(0.3).run()
    at.selectbox(key="explain_large").set_value("lrp").run()
    assert not at.exception, at.exception
    assert "Paper." in texts(at) and "Good at." in texts(at) and "Bach" in texts(at)

    # A second user opening the same case reads the stored maps: nothing is computed.
    other = fresh_app()
    other.switch_page("pages/explain.py").run()
    other.radio(key="explain_source").set_value("library").run()
    assert not other.exception, other.exception
    assert card_images(other) == 1 + len(FAST) + 1 + 1 and "(stored)" in texts(other)


def test_analyze_grid_for_an_upload_writes_nothing_and_switches_target(library_env, use_trained_weights, xray_bytes):
    at = upload(fresh_app(), "case.jpeg", xray_bytes)
    assert not at.exception, at.exception
    at.toggle(key="analyze_explain_on").set_value(True).run()
    assert not at.exception, at.exception
    predicted = at.session_state["analysis"][1].label
    assert at.radio(key="analyze_explain_target").value == predicted
    before = len(at.session_state["explain_maps"])
    assert before == len(FAST)
    at.radio(key="analyze_explain_target").set_value(next(c for c in CLASS_NAMES if c != predicted)).run()
    assert not at.exception, at.exception
    assert len(at.session_state["explain_maps"]) == 2 * len(FAST)
    with session_scope(ensure_library(library_env)) as s:
        assert s.scalar(select(func.count()).select_from(ExplanationMap)) == 0


def test_committed_model_analyze_faithfulness_and_a_cards_trust_tests(monkeypatch, kermany_test_dir):
    """On the committed model: the Analyze page's faithfulness line is on log-odds against a random map, and a
    method card runs this image's sanity check and shows the scrambled-model maps on request."""
    from test_quiz_and_roles import REPO

    weights = REPO / "weights"
    if not (weights / "lungs.safetensors").is_file():
        pytest.skip("needs the committed classifier and lung segmenter")
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(weights))
    image = sorted((kermany_test_dir / "PNEUMONIA").glob("*.jpeg"))[0]
    at = upload(fresh_app(), "case.jpeg", image.read_bytes())
    assert not at.exception, at.exception
    # On request: the result shows first, without the 63 forward passes.
    assert not any("log-odds" in c.value for c in at.caption) and "analysis_faithfulness" not in at.session_state
    at.button(key="analysis_faithfulness_run").click().run()
    assert not at.exception, at.exception
    line = next(c.value for c in at.caption if "log-odds" in c.value)
    assert "random map of the same smoothness" in line and "saturating probability" in line
    measured = at.session_state["analysis_faithfulness"]
    at.run()  # a rerun reads it back
    assert at.session_state["analysis_faithfulness"] is measured and any("log-odds" in c.value for c in at.caption)
    at.toggle(key="analyze_explain_on").set_value(True).run()
    at.selectbox(key="analyze_explain_large").set_value("gradcam").run()
    before = len(at.image)
    at.button(key="analyze_explain_trust_gradcam").click().run()
    assert not at.exception, at.exception
    assert "Sanity check **pass**" in texts(at)  # Grad-CAM changes when the model is scrambled
    at.button(key="analyze_explain_scrambled_gradcam").click().run()
    assert not at.exception, at.exception
    assert len(at.image) > before + 2 and "did change when we scrambled the model" in texts(at)
