"""What the Model Card shows, computed from weights/classifier.json and weights/test_predictions.json.

The export stores each test image's label and calibrated probability, so intervals, curves and
the threshold explorer are computed here without running the model. The page only lays out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from core.evaluation.metrics import classification_report
from core.i18n import N_
from core.models.weights import META_FILE, WEIGHTS_FILE, sha256_file

TEST_PREDICTIONS_FILE = "test_predictions.json"
CI_METRICS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "auc")

# Published figures, on the full 624-image official test split (ours: its 313-image half).
REFERENCE_FIGURES = [
    {
        "model": "Seed project ResNet34",
        "test images": 624,
        "accuracy": 0.877,
        "auc": 0.93,
        "f1": 0.89,
        "sensitivity": None,
        "specificity": None,
    },
    {
        "model": "Kermany et al. 2018, Inception V3 (ImageNet-pretrained)",
        "test images": 624,
        "accuracy": 0.928,
        "auc": 0.968,
        "f1": None,
        "sensitivity": 0.932,
        "specificity": 0.901,
    },
]

DATA_CITATIONS = [
    "Kermany D., Zhang K., Goldbaum M. (2018). Labeled Optical Coherence Tomography (OCT) and Chest X-Ray "
    "Images for Classification. Mendeley Data, v2. doi:10.17632/rscbjbr9sj.2 — licence CC BY 4.0. "
    "Paper: Kermany et al., Cell 172(5):1122–1131, 2018.",
    "Lung masks: V7 Labs, COVID-19 X-ray dataset (2020) — licence CC BY 4.0.",
]

# N_-marked: the Model Card shows them in the session's language.
INTENDED_USE = N_(
    "Teaching: showing students how a chest X-ray classifier reaches its output, how sure it is, and "
    "where it fails. Not for diagnosis, triage or any clinical decision; not a medical device."
)

LIMITATIONS = [
    N_(
        "Pediatric only: trained on frontal chest X-rays of children aged 1–5 from one hospital in Guangzhou. "
        "Adults, lateral views and other hospitals are outside what it has seen."
    ),
    N_(
        "Burned-in markers and shortcut learning: laterality letters, text and the image border differ between "
        "sources and classes; a model can score well by reading them instead of the lungs. Check the Grad-CAM."
    ),
    N_(
        "Domain shift: other scanners, exposures, post-processing, resolutions or populations change the pixel "
        "statistics; accuracy measured here does not carry over. The input guard catches gross mismatches only."
    ),
    N_(
        "Two labels only: NORMAL vs PNEUMONIA (bacterial and viral merged). Every other finding — effusion, "
        "masses, tubes, fractures — is invisible to it, and it always answers one of the two."
    ),
    N_("Test set of 313 images: the 95% intervals show how much the figures could move on another sample."),
]
NO_PREDICTIONS = N_("no per-image test predictions were exported")
OTHER_WEIGHTS = N_("the stored test predictions belong to other weights")
TEST_IMAGES = N_("{n} images of {folder}")
THIS_MODEL = N_("This model ({id})")
PREVIOUS_MODEL = N_("Previous model ({version})")
NO_FLAG_ROW = N_("(no flag)")


@dataclass
class CardData:
    meta: dict
    labels: np.ndarray | None  # test labels (1 = PNEUMONIA)
    probability: np.ndarray | None  # calibrated P(pneumonia) on test
    uncalibrated: np.ndarray | None  # temperature 1, for the before/after calibration diagram
    predictions_status: str

    @property
    def threshold(self) -> float:
        return float(self.meta.get("decision_threshold", 0.5))

    @property
    def has_predictions(self) -> bool:
        return self.labels is not None and len(self.labels) > 0


def load_card(weights_dir: Path) -> CardData | None:
    """None when no trained model is installed; predictions are checked against the weights' hash."""
    weights_dir = Path(weights_dir)
    if not (weights_dir / WEIGHTS_FILE).is_file():
        return None
    meta_path = weights_dir / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    preds_path = weights_dir / TEST_PREDICTIONS_FILE
    if not preds_path.is_file():
        return CardData(meta, None, None, None, NO_PREDICTIONS)
    preds = json.loads(preds_path.read_text())
    if preds.get("weights_sha256") != sha256_file(weights_dir / WEIGHTS_FILE):
        return CardData(meta, None, None, None, OTHER_WEIGHTS)
    logits = np.asarray(preds.get("logits", []), dtype=float)
    uncalibrated = None
    if logits.ndim == 2 and len(logits):
        z = logits[:, 1] - logits[:, 0]
        uncalibrated = 1 / (1 + np.exp(-z))
    return CardData(
        meta,
        np.asarray(preds["labels"], int),
        np.asarray(preds["probability"], float),
        uncalibrated,
        TEST_IMAGES.format(n=len(preds["labels"]), folder=preds.get("folder", "the test folder")),
    )


def _binary_counts(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise tp, tn, fp, fn for (B, N) arrays of labels and predictions."""
    tp = ((pred == 1) & (y == 1)).sum(axis=-1)
    tn = ((pred == 0) & (y == 0)).sum(axis=-1)
    fp = ((pred == 1) & (y == 0)).sum(axis=-1)
    fn = ((pred == 0) & (y == 1)).sum(axis=-1)
    return tp, tn, fp, fn


def _ratio(num, den) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def _rowwise_auc(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC AUC of each row via the Mann–Whitney rank sum (ties averaged) — equal to roc_auc_score."""
    from scipy.stats import rankdata

    ranks = rankdata(p, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    u = (ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2
    return _ratio(u, n_pos * n_neg)


def bootstrap_ci(labels, prob, threshold: float, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Percentile-bootstrap intervals (images resampled with replacement) for each metric.

    Returns {metric: {"value", "low", "high"}}; `value` is the metric on the full sample.
    """
    y, p = np.asarray(labels, int), np.asarray(prob, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    yb, pb = y[idx], p[idx]
    tp, tn, fp, fn = _binary_counts(yb, (pb >= threshold).astype(int))
    samples = {
        "accuracy": (tp + tn) / len(y),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "auc": _rowwise_auc(yb, pb),
    }
    point = classification_report(y, p, threshold)
    alpha = (1 - level) / 2
    out = {}
    for name in CI_METRICS:
        s = samples[name][~np.isnan(samples[name])]
        low, high = np.quantile(s, [alpha, 1 - alpha]) if len(s) else (np.nan, np.nan)
        out[name] = {"value": float(point[name]), "low": float(low), "high": float(high)}
    return out


def roc(labels, prob) -> dict:
    fpr, tpr, thr = roc_curve(np.asarray(labels, int), np.asarray(prob, float))
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": np.clip(thr, 0, 1).tolist(),
        "auc": float(roc_auc_score(labels, prob)),
    }


def reliability(labels, prob, bins: int = 10) -> dict:
    """Per equal-width bin: mean predicted probability, observed pneumonia rate, count."""
    y, p = np.asarray(labels, float), np.asarray(prob, float)
    which = np.clip(np.digitize(p, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    rows = [
        (float(p[which == b].mean()), float(y[which == b].mean()), int((which == b).sum()))
        for b in range(bins)
        if (which == b).any()
    ]
    return {"predicted": [r[0] for r in rows], "observed": [r[1] for r in rows], "count": [r[2] for r in rows]}


def operating_point(labels, prob, threshold: float) -> dict:
    """Everything the threshold explorer shows for one threshold."""
    report = classification_report(labels, prob, threshold)
    cm = report["confusion_matrix"]
    report["npv"] = cm["tn"] / (cm["tn"] + cm["fn"]) if cm["tn"] + cm["fn"] else float("nan")
    return report


def reference_comparison(card: CardData, ci: dict | None) -> list[dict]:
    """Our test figures next to the published ones, in one table."""
    test = card.meta.get("metrics", {}).get("test", {})
    ours = {
        "model": THIS_MODEL.format(id=card.meta.get("weights_sha256", "")[:12] or "installed"),
        "test images": int(test.get("n", len(card.labels) if card.labels is not None else 0)),
    }
    for key in ("accuracy", "auc", "f1", "sensitivity", "specificity"):
        value = ci[key]["value"] if ci else test.get(key)
        ours[key] = None if value is None else float(value)
    rows = [ours]
    previous = card.meta.get("previous_model")
    if previous and previous.get("metrics", {}).get("test"):
        old = previous["metrics"]["test"]
        rows.append(
            {
                "model": PREVIOUS_MODEL.format(version=previous["model_version"]),
                "test images": int(old.get("n", 0)),
                **{
                    k: (None if old.get(k) is None else float(old[k]))
                    for k in ("accuracy", "auc", "f1", "sensitivity", "specificity")
                },
            }
        )
    return [*rows, *REFERENCE_FIGURES]


def previous_test_predictions(card: CardData) -> tuple[np.ndarray, np.ndarray] | None:
    """The replaced model's test labels and probabilities (kept by `export --keep-previous`)."""
    preds = (card.meta.get("previous_model") or {}).get("test_predictions")
    if not preds:
        return None
    return np.asarray(preds["labels"], int), np.asarray(preds["probability"], float)


def input_check_table(meta: dict) -> list[dict]:
    """guard-eval per category for this model and, where kept, the previous one (share refused / warned)."""
    new = (meta.get("input_check_eval") or {}).get("categories", {})
    old = ((meta.get("previous_model") or {}).get("input_check_eval") or {}).get("categories", {})
    rows = []
    for category in dict.fromkeys([*new, *old]):
        n, o = new.get(category, {}), old.get(category, {})
        rows.append(
            {
                "images": category,
                "expected": n.get("expected") or o.get("expected"),
                "n": n.get("n") or o.get("n"),
                "refused (stage 1)": n.get("refused_rate"),
                "analysed with a warning (stage 2)": (n["warned_stage2"] / n["n"]) if n.get("n") else None,
                "previous model: refused": o.get("refused_rate"),
            }
        )
    return rows


def training_summary(meta: dict) -> dict:
    training = meta.get("training", {})
    return {
        k: training[k]
        for k in (
            "data",
            "split",
            "counts",
            "schedule",
            "epochs",
            "batch_size",
            "optimizer",
            "loss",
            "augmentation",
            "wall_time_minutes",
            "file_list_sha256",
        )
        if k in training
    }


def load_limits(weights_dir) -> dict:
    """weights/limits.json (flag thresholds, test flag statistics) and lungs.json, whichever exist."""
    from core.explain.limits import THRESHOLDS_FILE
    from core.models.lungs import LUNG_META

    folder = Path(weights_dir)
    out = json.loads((folder / THRESHOLDS_FILE).read_text()) if (folder / THRESHOLDS_FILE).is_file() else {}
    if (folder / LUNG_META).is_file():
        out["segmenter"] = json.loads((folder / LUNG_META).read_text())
    return out


def flag_table(summary: dict) -> list[dict]:
    """One row per shortcut flag: how often it fired and the error rate among flagged images."""
    from core.explain.limits import FLAG_TITLES

    rows = [
        {
            "flag": FLAG_TITLES[name],
            "images": str(v["count"]),
            "share": f"{v['share']:.1%}",
            "error rate": "–" if v["error_rate"] is None else f"{v['error_rate']:.1%}",
        }
        for name, v in summary["flags"].items()
    ]
    unflagged = summary.get("error_rate_unflagged")
    rows.append(
        {
            "flag": NO_FLAG_ROW,
            "images": "–",
            "share": "",
            "error rate": "–" if unflagged is None else f"{unflagged:.1%}",
        }
    )
    return rows
