"""Model Card computations, the page on weights made by the real export, and `core evaluate`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.evaluation import model_card as mc
from core.evaluation.metrics import classification_report
from core.reliability.uncertainty import assess, band_limits, fit_band

REPO = Path(__file__).resolve().parent.parent


def scores(n=300, separation=1.5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + separation * (2 * y - 1))))
    return y, p


def test_bootstrap_interval_brackets_the_estimate_and_shrinks_with_n():
    y, p = scores(300)
    ci = mc.bootstrap_ci(y, p, 0.5, n_boot=500)
    report = classification_report(y, p, 0.5)
    for name in mc.CI_METRICS:
        assert ci[name]["low"] <= ci[name]["value"] <= ci[name]["high"], name
        assert ci[name]["value"] == pytest.approx(report[name])
    y4, p4 = scores(1200, seed=1)
    wide, narrow = ci["accuracy"], mc.bootstrap_ci(y4, p4, 0.5, n_boot=500)["accuracy"]
    # Width scales like 1/sqrt(n): four times the data, about half the interval.
    assert 0.35 < (narrow["high"] - narrow["low"]) / (wide["high"] - wide["low"]) < 0.7


def test_bootstrap_interval_covers_the_truth_about_95_percent():
    """Accuracy of a classifier known to be right with probability 0.8, sampled 200 times."""
    rng = np.random.default_rng(5)
    covered = 0
    for trial in range(200):
        y = rng.integers(0, 2, 150)
        right = rng.random(150) < 0.8
        p = np.where(right, y, 1 - y).astype(float) * 0.8 + 0.1
        ci = mc.bootstrap_ci(y, p, 0.5, n_boot=300, seed=trial)["accuracy"]
        covered += ci["low"] <= 0.8 <= ci["high"]
    assert 0.89 <= covered / 200 <= 0.99


def test_vectorised_bootstrap_auc_equals_sklearn():
    from sklearn.metrics import roc_auc_score

    y, p = scores(120)
    p = np.round(p, 1)  # plenty of ties
    rows = np.random.default_rng(0).integers(0, 120, size=(20, 120))
    ours = mc._rowwise_auc(y[rows], p[rows])
    np.testing.assert_allclose(ours, [roc_auc_score(y[r], p[r]) for r in rows], rtol=1e-12)


def test_roc_reliability_and_operating_point():
    y, p = scores(400)
    curve = mc.roc(y, p)
    assert curve["fpr"][0] == 0 and curve["tpr"][-1] == 1 and 0.8 < curve["auc"] < 1
    rel = mc.reliability(y, p, bins=10)
    assert sum(rel["count"]) == 400 and all(0 <= o <= 1 for o in rel["observed"])
    low, high = mc.operating_point(y, p, 0.2), mc.operating_point(y, p, 0.8)
    assert low["sensitivity"] > high["sensitivity"] and low["specificity"] < high["specificity"]
    cm = low["confusion_matrix"]
    assert low["npv"] == pytest.approx(cm["tn"] / (cm["tn"] + cm["fn"]))


def test_uncertainty_band_is_fitted_to_the_error_target():
    y, p = scores(2000, separation=1.0)
    band = fit_band(y, p, 0.5, target_error=0.05)
    lo, hi = band["band"]
    outside = (p <= lo) | (p >= hi)
    assert lo < 0.5 < hi
    assert 1 - band["val_accuracy_confident"] <= 0.05
    assert band["val_share_uncertain"] == pytest.approx(1 - outside.mean(), abs=0.002)
    assert band["val_accuracy_uncertain"] < band["val_accuracy_confident"]
    assert assess(0.5, 0.5, band).level == "uncertain"
    assert assess(0.999, 0.5, band).level == "confident"
    assert band_limits(0.5, band["half_width_logit"]) == pytest.approx(tuple(band["band"]))


# ---- the page, on a weights folder written by core.export.export_run ------------------------


def test_export_stores_test_predictions_that_reproduce_its_metrics(exported_weights_dir):
    card = mc.load_card(exported_weights_dir)
    assert card.has_predictions and len(card.labels) == 24
    stored = card.meta["metrics"]["test"]
    recomputed = classification_report(card.labels, card.probability, card.threshold)
    for key in ("accuracy", "sensitivity", "specificity", "auc", "ece"):
        assert recomputed[key] == pytest.approx(stored[key]), key
    assert card.meta["training"]["counts"]["validation"]["NORMAL"] > 0


def test_predictions_of_other_weights_are_not_shown(exported_weights_dir, tmp_path):
    copy = tmp_path / "weights"
    shutil.copytree(exported_weights_dir, copy)
    preds = json.loads((copy / mc.TEST_PREDICTIONS_FILE).read_text())
    preds["weights_sha256"] = "0" * 64
    (copy / mc.TEST_PREDICTIONS_FILE).write_text(json.dumps(preds))
    card = mc.load_card(copy)
    assert not card.has_predictions and "other weights" in card.predictions_status


def test_model_card_page_with_exported_weights(exported_weights_dir, monkeypatch):
    from test_app import fresh_app, page_text

    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(exported_weights_dir))
    at = fresh_app()
    at.switch_page("pages/model_card.py").run()
    assert not at.exception, at.exception
    text = page_text(at)
    for needle in (
        "doi:10.17632/rscbjbr9sj.2",
        "CC BY 4.0",
        "Pediatric only",
        "shortcut learning",
        "Domain shift",
        "Intended use",
        "bootstrap",
    ):
        assert needle in text, needle
    metrics = {m.label: m.value for m in at.metric[: len(mc.CI_METRICS)]}  # the top row
    card = mc.load_card(exported_weights_dir)
    assert (
        metrics["Accuracy"] == f"{classification_report(card.labels, card.probability, card.threshold)['accuracy']:.3f}"
    )
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # ROC, reliability, confusion matrix
    table = at.dataframe[0].value
    assert list(table["model"])[1:] == [r["model"] for r in mc.REFERENCE_FIGURES]
    before = {m.label: m.value for m in at.metric}["Sensitivity"]
    at.slider(key="card_threshold").set_value(0.01).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Sensitivity"] == "100.0%"
    assert before is not None


def test_model_card_page_without_a_trained_model(use_placeholder):
    from test_app import fresh_app, page_text

    at = fresh_app()
    at.switch_page("pages/model_card.py").run()
    assert not at.exception
    assert "No trained model is installed" in page_text(at)
    assert not at.metric and not at.get("plotly_chart")


def test_model_card_page_without_test_predictions(use_trained_weights):
    from test_app import fresh_app, page_text

    at = fresh_app()
    at.switch_page("pages/model_card.py").run()
    assert not at.exception, at.exception
    assert "no per-image test predictions" in page_text(at)
    assert "Pediatric only" in page_text(at)


# ---- `python -m core evaluate` on a small folder -----------------------------------------------


def test_evaluate_cli_on_a_small_folder(trained_weights_dir, kermany_test_dir, tmp_path):
    for name in ("NORMAL", "PNEUMONIA"):
        (tmp_path / name).mkdir()
        for src in sorted((kermany_test_dir / name).glob("*.jpeg"))[:4]:
            shutil.copy(src, tmp_path / name / src.name)
    env = dict(os.environ, CXR_WEIGHTS_DIR=str(trained_weights_dir))
    done = subprocess.run(
        [sys.executable, "-m", "core", "evaluate", str(tmp_path), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n"] == 8
    cm = report["confusion_matrix"]
    assert cm["tn"] + cm["fp"] == 4 and cm["fn"] + cm["tp"] == 4
    assert report["accuracy"] == pytest.approx((cm["tp"] + cm["tn"]) / 8)
    assert {"sensitivity", "specificity", "precision", "f1", "auc", "ece"} <= set(report)
    empty = subprocess.run(
        [sys.executable, "-m", "core", "evaluate", str(tmp_path / "NORMAL")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert empty.returncode == 2 and "NORMAL/ or PNEUMONIA/" in empty.stderr


def test_calibrated_nll_is_blind_to_temperature():
    from core.training.export import calibrated_nll

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    logits = np.stack([np.zeros(400), (2 * y - 1) * 2.0 + rng.normal(size=400)], 1)
    # A sharp and a softened copy of the same ranking score the same once each is temperature-scaled.
    assert calibrated_nll(logits, y) == pytest.approx(calibrated_nll(logits * 0.3, y), abs=1e-4)
    assert calibrated_nll(logits, y) < calibrated_nll(rng.normal(size=(400, 2)), y)


def test_model_card_shows_the_previous_model_beside_the_new(exported_weights_dir, tmp_path, monkeypatch):
    from test_app import fresh_app, page_text

    from core.training.export import previous_model_card

    folder = tmp_path / "weights"
    shutil.copytree(exported_weights_dir, folder)
    meta = json.loads((folder / "classifier.json").read_text())
    eval_block = {
        "categories": {
            "photos": {"n": 20, "expected": "refused", "refused_rate": 1.0, "warned_stage2": 0},
            "adult chest CR": {"n": 1, "expected": "analysed", "refused_rate": 0.0, "warned_stage2": 1},
        }
    }
    meta["input_check_eval"] = {
        "categories": {
            "photos": {"n": 20, "expected": "refused", "refused_rate": 0.95},
            "adult chest CR": {"n": 1, "expected": "analysed", "refused_rate": 1.0},
        }
    }
    (folder / "classifier.json").write_text(json.dumps(meta))
    previous = previous_model_card(folder)
    assert (
        previous["model_version"] == meta["weights_sha256"][:12] and len(previous["test_predictions"]["labels"]) == 24
    )
    meta["previous_model"] = dict(previous, model_version="oldmodel0001")
    meta["input_check_eval"] = eval_block
    (folder / "classifier.json").write_text(json.dumps(meta))
    rows = mc.input_check_table(meta)
    assert rows[1] == {
        "images": "adult chest CR",
        "expected": "analysed",
        "n": 1,
        "refused (stage 1)": 0.0,
        "analysed with a warning (stage 2)": 1.0,
        "previous model: refused": 1.0,
    }

    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(folder))
    at = fresh_app()
    at.switch_page("pages/model_card.py").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["model"])[1] == "Previous model (oldmodel0001)"
    reliability = next(c for c in at.get("plotly_chart") if "reliability" in c.proto.spec)
    assert "previous model (oldmodel0001)" in reliability.proto.spec
    assert "Stage 1" in page_text(at) and "(previous model:" in page_text(at)
