"""Explanation maps kept in the library: stored by their whole key, read back for every user, computed once
for two sessions at once; uploads outside the library write nothing. SQLite and PostgreSQL."""

import threading

import numpy as np
import pytest
from db_support import library, library_url, pg_server
from sqlalchemy import func, select

from core.explain.display import colourise, display_values, map_overlay
from core.model_service import ModelService
from core.services import explanations as ex
from db import repository as repo
from db.codec import encode_image
from db.engine import session_scope
from db.explanations import params_key, store_map, stored_maps
from db.models import Case, ExplanationMap, Image
from db.operator import OPERATOR

FAST = ["gradcam", "saliency"]


def _case(engine, seed: int = 0) -> tuple[int, int]:
    """(image id, case id) of a new library case."""
    pixels = np.random.default_rng(seed).integers(0, 255, (256, 240), dtype=np.uint8)
    with session_scope(engine) as s:
        image, _ = repo.add_image(s, encode_image(pixels), "PNG")
        case, _ = repo.add_case(s, image, f"case {seed}", "test", "NORMAL", "tester")
        return image.id, case.id


def test_a_map_is_stored_once_under_its_whole_key_and_read_back(library):
    image_id, case_id = _case(library)
    heat = np.linspace(-2e-4, 6e-4, 224 * 224, dtype=np.float32).reshape(224, 224)  # gradient-sized values
    with session_scope(library) as s:
        assert store_map(s, image_id, "v1", "saliency", "PNEUMONIA", {"abs": True}, heat, 12.5)
        assert not store_map(s, image_id, "v1", "saliency", "PNEUMONIA", {"abs": True}, heat * 2, 1.0)
        assert store_map(s, image_id, "v1", "saliency", "NORMAL", {"abs": True}, heat, 3.0)  # another target
    with session_scope(library) as s:
        found = stored_maps(s, image_id, "v1", "PNEUMONIA", {"saliency": {"abs": True}})
        assert stored_maps(s, image_id, "v1", "PNEUMONIA", {"saliency": {"abs": False}}) == {}  # other params
        assert stored_maps(s, image_id, "v2", "PNEUMONIA", {"saliency": {"abs": True}}) == {}  # other model
        assert s.scalar(select(func.count()).select_from(ExplanationMap)) == 2
    got = found["saliency"]
    assert got.milliseconds == 12.5 and got.params == {"abs": True}
    np.testing.assert_allclose(got.map, heat, atol=6e-4 * 1e-3)  # float16 relative to the largest value
    with session_scope(library) as s, pytest.raises(ValueError, match="finite"):
        store_map(s, image_id, "v1", "lrp", "PNEUMONIA", {}, np.full((224, 224), np.nan, np.float32), 1.0)
    with session_scope(library) as s:  # deleting the image (after its case) deletes its maps
        s.delete(s.get(Case, case_id))
        s.flush()
        s.delete(s.get(Image, image_id))
    with session_scope(library) as s:
        assert s.scalar(select(func.count()).select_from(ExplanationMap)) == 0


def test_params_key_ignores_order_but_not_values():
    assert params_key({"a": 1, "b": 2}) == params_key({"b": 2, "a": 1}) != params_key({"a": 1, "b": 3})


@pytest.fixture
def service(trained_weights_dir):
    return ModelService(trained_weights_dir)


def _subject(service, engine, case_id):
    with session_scope(engine) as s:
        return ex.subject_from_case(s, service, case_id)


def test_two_sessions_asking_for_the_same_maps_compute_them_once(library, service, monkeypatch):
    _, case_id = _case(library)
    subject = _subject(service, library, case_id)
    calls, real = [], ex.explain

    def counted(*args, **kwargs):
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(ex, "explain", counted)
    results, start = [], threading.Barrier(2)

    def session_asks():
        start.wait()
        results.append(ex.compute_explanations(library, OPERATOR, service, subject, "PNEUMONIA", FAST, cache={}))

    threads = [threading.Thread(target=session_asks) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [FAST]  # one computation; the other session read its rows
    first, second = sorted(results, key=lambda r: r["gradcam"].stored)
    assert not first["gradcam"].stored and second["gradcam"].stored
    for name in FAST:
        np.testing.assert_allclose(second[name].map, first[name].map, rtol=0, atol=np.abs(first[name].map).max() / 500)
    with session_scope(library) as s:
        assert s.scalar(select(func.count()).select_from(ExplanationMap)) == len(FAST)

    # A third user, a new session: read back, nothing computed; the other class is a new computation.
    again = ex.stored_explanations(library, service, subject, "PNEUMONIA", FAST, cache={})
    assert set(again) == set(FAST) and all(m.stored for m in again.values())
    other = ex.compute_explanations(library, OPERATOR, service, subject, "NORMAL", ["saliency"], cache={})
    assert calls == [FAST, ["saliency"]]
    assert not np.allclose(other["saliency"].map, first["saliency"].map)


def test_an_upload_outside_the_library_keeps_its_maps_in_the_session_only(library, service, monkeypatch):
    from core.analysis import analyze_image
    from core.imaging.decode import XRayImage

    pixels = np.random.default_rng(3).integers(0, 255, (300, 280), dtype=np.uint8)
    analysis = analyze_image(service, XRayImage(pixels, "PNG", 0.0), force=True)
    subject = ex.subject_from_analysis(analysis, library)
    assert subject.image_id is None
    cache: dict = {}
    maps = ex.compute_explanations(library, OPERATOR, service, subject, analysis.label, ["gradcam"], cache)
    assert maps["gradcam"].map.shape == (224, 224) and len(cache) == 1
    monkeypatch.setattr(ex, "explain", lambda *a, **k: pytest.fail("recomputed a map the session holds"))
    assert set(ex.compute_explanations(library, OPERATOR, service, subject, analysis.label, ["gradcam"], cache)) == {
        "gradcam"
    }
    with session_scope(library) as s:
        assert s.scalar(select(func.count()).select_from(ExplanationMap)) == 0


def test_one_display_rule_for_every_map():
    heat = np.zeros((224, 224), np.float32)
    heat[10:20, 10:20] = 1.0
    heat[0, 0] = 1000.0  # one spike does not wash the map out
    heat[100:110, 100:110] = -5.0  # evidence against the class is not drawn
    values = display_values(heat)
    assert values.max() == 1.0 and values[15, 15] == 1.0 and values[105, 105] == 0.0 and values.min() == 0.0
    assert not display_values(-np.abs(heat)).any()
    assert colourise(values, "viridis").shape == (224, 224, 3) and colourise(values, "viridis").dtype == np.uint8
    assert not np.array_equal(colourise(values, "viridis"), colourise(values, "jet"))
    with pytest.raises(ValueError):
        colourise(values, "rainbow")
    gray = np.full((224, 224), 100, np.uint8)
    shown = map_overlay(gray, heat, "cividis", 0.6)
    assert (shown[150, 150] == 100).all() and not (shown[15, 15] == 100).all()  # cold pixels show the film
