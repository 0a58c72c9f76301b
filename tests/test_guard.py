"""Input guard: the fit on synthetic features, then end to end with real weights files and images."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.analysis import InputFlagged, analyze_bytes
from core.model_service import ModelService
from core.reliability.input_check import COLOUR_LIMIT, GUARD_FILE, fit_guard, load_guard, save_guard

REPO = Path(__file__).resolve().parent.parent


def synthetic(seed=0, n=400, dim=32):
    """Two classes in a correlated feature space, like a network's penultimate features."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    means = np.stack([np.zeros(dim), np.full(dim, 3.0)])
    labels = rng.integers(0, 2, n)
    feats = means[labels] + rng.normal(size=(n, dim)) @ mix
    return feats, labels, means, mix


def test_limit_is_the_validation_percentile_and_outliers_are_far():
    train, labels, means, mix = synthetic(0)
    val, _, _, _ = synthetic(1)
    guard = fit_guard(train, labels, val, percentile=99)
    val_d = guard.distances(val)
    assert guard.threshold == pytest.approx(np.percentile(val_d, 99))
    assert (val_d > guard.threshold).mean() == pytest.approx(0.01, abs=0.006)
    fresh, _, _, _ = synthetic(2)
    assert (guard.distances(fresh) > guard.threshold).mean() < 0.05
    # Off the training manifold: shifted along a direction the covariance says is rare.
    rng = np.random.default_rng(3)
    outliers = means[0] + rng.normal(size=(50, means.shape[1])) @ mix + 2.0 * rng.normal(size=(50, means.shape[1]))
    assert (guard.distances(outliers) > guard.threshold).all()


def test_distance_is_to_the_nearer_class_mean():
    train, labels, means, _ = synthetic(0)
    guard = fit_guard(train, labels, synthetic(1)[0])
    at_means = guard.distances(means)
    midway = guard.distances(means.mean(axis=0, keepdims=True))
    assert at_means.max() < 1.0 < midway[0]
    assert guard.check(means[1:], colourfulness=0.0).verdict == "in_distribution"


def test_colour_alone_is_refused_and_familiarity_reads_as_a_percentile():
    train, labels, means, _ = synthetic(0)
    guard = fit_guard(train, labels, synthetic(1)[0])
    verdict = guard.check(means[:1], colourfulness=COLOUR_LIMIT + 10)
    assert verdict.flagged and "colour" in verdict.reason
    median = np.median(guard.distances(synthetic(1)[0]))
    assert guard.familiarity(median) == pytest.approx(50, abs=2)
    assert guard.familiarity(guard.threshold * 3) == 0.0


def test_saved_guard_loads_only_for_its_weights(tmp_path):
    train, labels, _, _ = synthetic(0)
    val = synthetic(1)[0]
    guard = fit_guard(train, labels, val)
    save_guard(guard, tmp_path, classifier_sha256="a" * 64)
    loaded, status = load_guard(tmp_path, "a" * 64)
    assert status == "installed"
    np.testing.assert_allclose(loaded.distances(val), guard.distances(val), rtol=1e-4)
    assert loaded.threshold == guard.threshold
    stale, why = load_guard(tmp_path, "b" * 64)
    assert stale is None and "other weights" in why
    missing, why = load_guard(tmp_path / "nowhere", "a" * 64)
    assert missing is None and "fit-guard" in why


# ---- end to end: the guard fitted by the real export on random-weights ResNet34 --------------


def png_bytes(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def guarded(exported_weights_dir):
    service = ModelService(exported_weights_dir)
    assert service.guard is not None, service.guard_status
    return service


def test_export_installs_a_guard_for_its_own_weights(exported_weights_dir):
    meta = json.loads((exported_weights_dir / "classifier.json").read_text())
    assert (exported_weights_dir / GUARD_FILE).is_file()
    assert meta["input_guard"]["classifier_sha256"] == meta["weights_sha256"]
    assert meta["input_guard"]["n_train"] + meta["input_guard"]["n_val"] == 60
    assert 0 < meta["uncertainty"]["band"][0] < meta["decision_threshold"] < meta["uncertainty"]["band"][1] < 1


def test_photo_and_document_refused_chest_xray_accepted(guarded, kermany_test_dir):
    from skimage import data

    photo_distances = []
    for name in ("camera", "page", "moon"):  # grey, so only the feature distance can refuse them
        with pytest.raises(InputFlagged) as caught:
            analyze_bytes(guarded, png_bytes(getattr(data, name)()))
        assert caught.value.verdict.distance > caught.value.verdict.threshold, name
        assert "does not look like the chest X-rays" in str(caught.value)
        photo_distances.append(caught.value.verdict.distance)
    with pytest.raises(InputFlagged, match="colour"):
        analyze_bytes(guarded, png_bytes(data.astronaut()))
    # Held-out chest X-rays (the fit saw 60 train images) pass, and lie nearer than any photo.
    xrays = (
        sorted((kermany_test_dir / "NORMAL").glob("*.jpeg"))[-5:]
        + sorted((kermany_test_dir / "PNEUMONIA").glob("*.jpeg"))[-5:]
    )
    verdicts = [analyze_bytes(guarded, p.read_bytes(), force=True).guard for p in xrays]
    distances = [v.distance for v in verdicts]
    assert sum(v.verdict == "in_distribution" for v in verdicts) >= 6, (distances, verdicts[0].threshold)
    assert max(distances) < min(photo_distances), (distances, photo_distances)


def test_override_is_recorded(guarded):
    from skimage import data

    result = analyze_bytes(guarded, png_bytes(data.camera()), force=True)
    record = result.to_dict()
    assert record["guard"]["verdict"] == "not_chest_xray" and record["guard"]["overridden"] is True
    assert record["guard"]["stage"] == 1 and record["guard"]["frontal"] is None  # no segmenter in this folder
    assert record["uncertainty"]["level"] == "unreliable"
    assert record["label"] in ("NORMAL", "PNEUMONIA")


def run_cli(*args, weights_dir):
    env = dict(os.environ, CXR_WEIGHTS_DIR=str(weights_dir))
    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


def test_cli_refuses_a_photo_unless_forced(exported_weights_dir, tmp_path):
    from skimage import data

    photo = tmp_path / "cameraman.png"
    photo.write_bytes(png_bytes(data.camera()))
    refused = run_cli("analyze", photo, weights_dir=exported_weights_dir)
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "does not look like the chest X-rays" in refused.stderr and "--force" in refused.stderr
    forced = run_cli("analyze", photo, "--json", "--force", weights_dir=exported_weights_dir)
    assert forced.returncode == 0, forced.stderr
    out = json.loads(forced.stdout)
    assert out["guard"]["overridden"] is True and out["guard"]["distance"] > out["guard"]["threshold"]


def test_guard_eval_reports_rates_per_category(exported_weights_dir):
    done = run_cli(
        "guard-eval", "--json", "--weights", exported_weights_dir, "--limit", 20, weights_dir=exported_weights_dir
    )
    assert done.returncode == 0, done.stderr
    cats = json.loads(done.stdout)["categories"]
    kermany = cats["chest X-ray: kermany224/test (held out)"]
    photos, docs = cats["photos and textures (scikit-image)"], cats["documents and screenshots"]
    modalities = cats["other modalities and body parts (DICOM)"]
    assert kermany["n"] == 20 and photos["n"] >= 15 and docs["n"] >= 12 and modalities["n"] >= 10
    assert photos["refused_rate"] > 0.8 and docs["refused_rate"] > 0.8
    assert kermany["refused_rate"] < photos["refused_rate"]


def test_guard_eval_without_a_guard_exits_2(trained_weights_dir):
    done = run_cli("guard-eval", "--weights", trained_weights_dir, weights_dir=trained_weights_dir)
    assert done.returncode == 2 and "fit-guard" in done.stderr and "Traceback" not in done.stderr


def test_fit_guard_without_trained_weights_exits_2(tmp_path):
    done = run_cli("fit-guard", "--weights", tmp_path, weights_dir=tmp_path)
    assert done.returncode == 2 and "no trained classifier" in done.stderr and "Traceback" not in done.stderr
