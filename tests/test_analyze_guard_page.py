"""The Analyze page refuses what the input guard flags, and records an explicit "analyze anyway"."""

import io

import numpy as np
from PIL import Image
from test_app import fresh_app, upload


def camera_png() -> bytes:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(np.asarray(data.camera())).save(buf, format="PNG")
    return buf.getvalue()


def test_flagged_photo_is_refused_then_analysed_anyway_on_request(exported_weights_dir, monkeypatch):
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(exported_weights_dir))
    at = upload(fresh_app(), "cameraman.png", camera_png(), "image/png")
    assert not at.exception, at.exception
    assert any("does not look like the chest X-rays" in e.value for e in at.error)
    assert not at.metric  # no prediction shown
    at.button(key="analyze_anyway").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Certainty"] == "unreliable"
    assert any("Analysed anyway" in w.value for w in at.warning)
    record = at.session_state["analysis"][1].to_dict()
    assert record["guard"]["overridden"] is True


def test_chest_xray_passes_the_guard_and_shows_certainty(exported_weights_dir, monkeypatch, kermany_test_dir):
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(exported_weights_dir))
    image = sorted((kermany_test_dir / "NORMAL").glob("*.jpeg"))[-1]
    at = upload(fresh_app(), "case.jpeg", image.read_bytes())
    assert not at.exception, at.exception
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Certainty"] in ("confident", "uncertain")
    assert not at.session_state["analysis"][1].guard.overridden
    assert any("Typicality" in c.value for c in at.caption)


def test_chest_film_unlike_ours_is_analysed_with_the_stage2_warning(kermany_test_dir, tmp_path, monkeypatch):
    """Committed classifier and lung U-Net; a zero distance limit makes stage 2 warn on any film."""
    import shutil
    from dataclasses import replace
    from pathlib import Path

    import pytest

    from core.models.weights import WEIGHTS_FILE, sha256_file
    from core.reliability.input_check import load_guard, save_guard

    weights = Path(__file__).resolve().parent.parent / "weights"
    if not (weights / "lungs.safetensors").is_file():
        pytest.skip("needs the committed lung segmenter")
    folder = tmp_path / "weights"
    shutil.copytree(weights, folder)
    sha = sha256_file(folder / WEIGHTS_FILE)
    guard, _ = load_guard(folder, sha)
    save_guard(replace(guard, threshold=0.0), folder, sha)
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(folder))
    image = sorted((kermany_test_dir / "PNEUMONIA").glob("*.jpeg"))[0]
    at = upload(fresh_app(), "adult.jpeg", image.read_bytes())
    assert not at.exception, at.exception
    assert not at.error  # analysed, not refused
    assert any("unlike the films the model was trained on" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Certainty"] == "unreliable"
    assert at.session_state["analysis"][1].to_dict()["guard"]["stage"] == 2
