"""Building libraries with model-limits figures for tests: chosen numbers, stored and read back.

These tests are about storing, querying and showing the figures, so they write chosen numbers
rather than computing them from images (core.explain.limits does that; tests/test_limits.py tests it).
"""

from __future__ import annotations

import numpy as np

from core.explain.limits import pack_mask
from core.vocabulary import LIMIT_FLAGS
from db import repository as repo
from db.codec import encode_image


def lung_mask(seed: int = 0) -> np.ndarray:
    """Two lung-shaped ellipses in a 224×224 frame, shifted a little per seed."""
    yy, xx = np.mgrid[0:224, 0:224]
    shift = seed % 7
    left = ((xx - 70 - shift) / 38.0) ** 2 + ((yy - 110) / 70.0) ** 2 <= 1
    right = ((xx - 154 + shift) / 38.0) ** 2 + ((yy - 110) / 70.0) ** 2 <= 1
    return left | right


def make_limits(lung_share: float, flags=(), marker_delta: float | None = None, markers=None) -> dict:
    markers = markers if markers is not None else ([[8, 8, 30, 34]] if marker_delta is not None else [])
    return {
        "version": "1",
        "segmenter_version": "test00000000",
        "lung_share": lung_share,
        "outside_lung_share": round(1 - lung_share, 6),
        "border_share": 0.08,
        "marker_share": 0.02 if markers else 0.0,
        "mediastinum_share": 0.1,
        "below_diaphragm_share": 0.05,
        "peak_region": "lung" if lung_share >= 0.5 else "border",
        "markers": markers,
        "faithfulness": {"deletion_auc": 0.31, "insertion_auc": 0.78, "score": 0.47},
        "counterfactual": {
            "p_marker_erased": None if marker_delta is None else 0.5 + marker_delta,
            "marker_delta": marker_delta,
            "p_outside_blanked": 0.61,
            "outside_delta": -0.11,
        },
        "flags": [f for f in LIMIT_FLAGS if f in flags],
    }


def synthetic_xray(seed: int) -> np.ndarray:
    """A 224×224 grey picture, unique per seed (so each is its own image in the library)."""
    rng = np.random.default_rng(seed)
    base = np.clip(rng.normal(110, 35, (224, 224)), 0, 255).astype(np.uint8)
    base[8:34, 8:30] = 250  # a bright 'marker' glyph in the corner
    return base


def add_limits_case(
    session,
    model_version: str,
    seed: int,
    truth: str | None,
    predicted: str,
    lung_share: float,
    flags=(),
    marker_delta: float | None = None,
    probability: float | None = None,
    title: str | None = None,
    with_limits: bool = True,
) -> int:
    """One case whose prediction by `model_version` carries the given figures; returns the case id."""
    image, _ = repo.add_image(session, encode_image(synthetic_xray(seed)), "PNG")
    case, _ = repo.add_case(session, image, title or f"limits case {seed}", "test", truth, "tester")
    p = probability if probability is not None else (0.8 if predicted == "PNEUMONIA" else 0.2)
    cam = np.zeros((7, 7), dtype=np.float32)
    cam[seed % 7, (seed * 3) % 7] = 1.0
    repo.add_prediction(
        session,
        image.id,
        repo.PredictionRecord(
            model_version=model_version,
            probability=p,
            label=predicted,
            threshold=0.5,
            cam=cam,
            cam_target=predicted,
            cam_summary={"peak": None},
            limits=make_limits(lung_share, flags, marker_delta) if with_limits else None,
            lung_mask=pack_mask(lung_mask(seed)) if with_limits else None,
        ),
    )
    return case.id


# The gallery's standard cases: name → (truth, predicted, lung_share, flags, marker_delta), chosen so every
# filter and sort has a known answer.
NAMED_CASES: dict[str, tuple] = {
    "fp_marker": (
        "NORMAL",
        "PNEUMONIA",
        0.20,
        ["heatmap_on_marker", "heatmap_outside_lungs", "marker_dependent"],
        -0.40,
    ),
    "fn_border": ("PNEUMONIA", "NORMAL", 0.35, ["heatmap_on_border", "heatmap_outside_lungs"], None),
    "ok_marker": ("PNEUMONIA", "PNEUMONIA", 0.55, ["heatmap_on_marker"], 0.05),
    "ok_clean": ("NORMAL", "NORMAL", 0.90, (), None),
    "ok_clean2": ("PNEUMONIA", "PNEUMONIA", 0.80, (), None),
    "fp_clean": ("NORMAL", "PNEUMONIA", 0.70, (), None),
    "unlabelled": (None, "PNEUMONIA", 0.10, ["heatmap_outside_lungs"], None),
}


def add_named_cases(session, model_version: str, names, without_figures=(), marker_deltas=None) -> dict[str, int]:
    """The named cases in order (seeds 1, 2, …), then NORMAL cases whose prediction has no figures yet."""
    ids = {}
    for seed, name in enumerate(names, start=1):
        truth, predicted, lung_share, flags, marker_delta = NAMED_CASES[name]
        marker_delta = (marker_deltas or {}).get(name, marker_delta)
        ids[name] = add_limits_case(session, model_version, seed, truth, predicted, lung_share, flags, marker_delta)
    for seed, name in enumerate(without_figures, start=len(names) + 1):
        ids[name] = add_limits_case(session, model_version, seed, "NORMAL", "NORMAL", 0.5, with_limits=False)
    return ids
