"""Fit the shortcut-flag thresholds on validation and measure the flags on test (weights/limits.json).

`python -m core limits-fit` runs the limits probe over the classifier's validation split (the
same patient split as training) and sets each threshold from that distribution:
- heatmap outside the lungs: in-lung CAM share below the validation 10th percentile;
- heatmap on border: border-frame share above the validation 90th percentile;
- heatmap on marker: marker share above the 90th percentile of validation images that have a
  detected marker (at least 2 %), or the CAM peak on the marker;
- marker-dependent: |ΔP(pneumonia)| on marker erasure above the 99th percentile of the change
  caused by erasing a same-size patch of plain background (a control), and at least 0.05: a
  smaller change, however unusual, is not worth teaching as dependence.
`python -m core limits-eval` then reports the flags on kermany224/test, which no choice used.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.explain.gradcam import fast_gradcam, normalise
from core.explain.limits import DEFAULT_THRESHOLDS, MAINLY_ON_LUNGS, THRESHOLDS_FILE, Thresholds, probe_image
from core.imaging.preprocess import normalize
from core.model_service import ModelService
from core.models.weights import WEIGHTS_FILE, sha256_file
from core.training import dataset
from core.vocabulary import CLASS_NAMES, LIMIT_FLAGS

MIN_MARKER_DELTA = 0.05  # P(pneumonia) change below which marker erasure is not called dependence
MOSTLY_OUTSIDE = MAINLY_ON_LUNGS  # "mostly outside the lungs": not more than half of the mass on the lung fields


def probe_pixels(
    service: ModelService, pixels: np.ndarray, thresholds: Thresholds, control: bool = False, desc: str = "limits"
) -> list[dict]:
    """Prediction + CAM + limits probe for (N, 224, 224) uint8 images; one record per image."""
    records = []
    for start in tqdm(range(0, len(pixels), 16), desc=desc, unit="batch"):
        chunk = pixels[start : start + 16]
        out = service.forward(normalize(torch.from_numpy(chunk)[:, None]))
        labels = [service.label_for(float(p)) for p in out.probability]
        cams = fast_gradcam(out.features, service.model.fc.weight, torch.tensor([CLASS_NAMES.index(x) for x in labels]))
        for i, label in enumerate(labels):
            probe = probe_image(
                service,
                service.segmenter,
                chunk[i],
                normalise(cams[i].numpy()),
                float(out.probability[i]),
                label,
                thresholds,
                control=control,
            )
            records.append({"probability": float(out.probability[i]), "label": label, **probe.metrics, **probe.extra})
    return records


def _percentile(values, q: float, floor: float = 0.0) -> float:
    values = [v for v in values if v is not None]
    return round(max(float(np.percentile(values, q)), floor), 4) if values else floor


def fit_thresholds(service: ModelService) -> dict:
    if not service.info.trained or service.segmenter is None:
        raise ValueError("limits-fit needs a trained classifier and lung segmenter in the weights folder")
    training = service.info.meta.get("training", {})
    samples = dataset.list_labelled(dataset.KERMANY / "train")
    _, val_s = dataset.patient_split(samples, training.get("val_fraction", 0.12), training.get("seed", 0))
    provisional = Thresholds(**DEFAULT_THRESHOLDS, fitted=False)  # flags are recomputed below with the fitted values
    records = probe_pixels(service, dataset.load_pixels(val_s), provisional, control=True, desc="limits: validation")
    with_marker = [r["marker_share"] for r in records if r["markers"]]
    thresholds = {
        "lung_share_below": _percentile([r["lung_share"] for r in records], 10),
        "border_share_above": _percentile([r["border_share"] for r in records], 90),
        "marker_share_above": _percentile(with_marker, 90, floor=0.02),
        "marker_delta_above": _percentile(
            [abs(r["control_delta"]) for r in records if "control_delta" in r], 99, floor=MIN_MARKER_DELTA
        ),
    }
    fitted = Thresholds(**thresholds, fitted=True)
    flags = [fitted.flags(r) for r in records]
    return {
        "classifier_sha256": sha256_file(service.weights_dir / WEIGHTS_FILE),
        "segmenter_version": service.segmenter.version,
        "thresholds": thresholds,
        "rules": __doc__.split("- ", 1)[1].split("`python -m core limits-eval`")[0].strip(),
        "validation": {"n": len(records), **summarise(records, [s.label for s in val_s], flags)},
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def summarise(records: list[dict], truth: list[int], flags: list[list[str]]) -> dict:
    """Flag counts and error rates, in-lung share by outcome, counterfactual changes."""
    correct = np.array([CLASS_NAMES.index(r["label"]) == t for r, t in zip(records, truth)])
    lung = np.array([r["lung_share"] for r in records])
    outside = lung <= MOSTLY_OUTSIDE
    deltas = np.array([r["counterfactual"]["marker_delta"] for r in records if r["markers"]], dtype=float)
    by_flag = {}
    for flag in LIMIT_FLAGS:
        has = np.array([flag in f for f in flags])
        by_flag[flag] = {
            "count": int(has.sum()),
            "share": round(float(has.mean()), 4),
            "error_rate": round(float((~correct[has]).mean()), 4) if has.any() else None,
        }
    unflagged = np.array([not f for f in flags])
    return {
        "accuracy": round(float(correct.mean()), 4),
        "flags": by_flag,
        "error_rate_unflagged": round(float((~correct[unflagged]).mean()), 4) if unflagged.any() else None,
        "mean_lung_share": {
            "correct": round(float(lung[correct].mean()), 4) if correct.any() else None,
            "wrong": round(float(lung[~correct].mean()), 4) if (~correct).any() else None,
        },
        "mostly_outside_lungs": {
            "threshold": MOSTLY_OUTSIDE,
            "all": round(float(outside.mean()), 4),
            "correct": round(float(outside[correct].mean()), 4) if correct.any() else None,
            "wrong": round(float(outside[~correct].mean()), 4) if (~correct).any() else None,
        },
        "images_with_marker": int(len(deltas)),
        "marker_erasure": {
            "mean_delta": round(float(deltas.mean()), 4) if len(deltas) else None,
            "mean_abs_delta": round(float(np.abs(deltas).mean()), 4) if len(deltas) else None,
        },
        "outside_blanking_mean_abs_delta": round(
            float(np.mean([abs(r["counterfactual"]["outside_delta"]) for r in records])), 4
        ),
        "faithfulness_mean_score": round(float(np.mean([r["faithfulness"]["score"] for r in records])), 4),
    }


def evaluate_test(service: ModelService, folder: Path | None = None) -> tuple[dict, list[dict]]:
    folder = folder or dataset.KERMANY / "test"
    samples = dataset.list_labelled(folder)
    records = probe_pixels(
        service, dataset.load_pixels(samples, cache=False), service.limit_thresholds, desc="limits: test"
    )
    for record, sample in zip(records, samples):
        record["file"] = f"{sample.path.parent.name}/{sample.path.name}"
        record["truth"] = CLASS_NAMES[sample.label]
    return {
        "n": len(records),
        "folder": str(folder.name),
        **summarise(records, [s.label for s in samples], [r["flags"] for r in records]),
    }, records


def write_limits_json(weights_dir: Path, content: dict) -> Path:
    path = Path(weights_dir) / THRESHOLDS_FILE
    existing = json.loads(path.read_text()) if path.is_file() else {}
    existing.update(content)
    path.write_text(json.dumps(existing, indent=2))
    return path
