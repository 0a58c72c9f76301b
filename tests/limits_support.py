"""Building libraries with model-limits figures for tests, and a test-only stand-in for core.limits.

The figures follow notes/limits-spec.md. core.limits (the lead's) computes them from real images;
these tests are about storing, querying and showing them, so they write chosen numbers.
"""
from __future__ import annotations

import importlib.util
import sys
import types
import zlib

import numpy as np
import pytest

from db import repository as repo
from db.codec import encode_image

FLAGS = ("heatmap_on_marker", "heatmap_on_border", "heatmap_outside_lungs", "marker_dependent")


def pack_mask(mask: np.ndarray) -> bytes:
    return zlib.compress(np.packbits(np.asarray(mask, dtype=bool)).tobytes())


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
        "version": "1", "segmenter_version": "test00000000",
        "lung_share": lung_share, "outside_lung_share": round(1 - lung_share, 6),
        "border_share": 0.08, "marker_share": 0.02 if markers else 0.0, "mediastinum_share": 0.1,
        "below_diaphragm_share": 0.05, "peak_region": "lung" if lung_share >= 0.5 else "border",
        "markers": markers,
        "faithfulness": {"deletion_auc": 0.31, "insertion_auc": 0.78, "score": 0.47},
        "counterfactual": {"p_marker_erased": None if marker_delta is None else 0.5 + marker_delta,
                           "marker_delta": marker_delta, "p_outside_blanked": 0.61, "outside_delta": -0.11},
        "flags": [f for f in FLAGS if f in flags],
    }


def synthetic_xray(seed: int) -> np.ndarray:
    """A 224×224 grey picture, unique per seed (so each is its own image in the library)."""
    rng = np.random.default_rng(seed)
    base = np.clip(rng.normal(110, 35, (224, 224)), 0, 255).astype(np.uint8)
    base[8:34, 8:30] = 250  # a bright 'marker' glyph in the corner
    return base


def add_limits_case(session, model_version: str, seed: int, truth: str | None, predicted: str, lung_share: float,
                    flags=(), marker_delta: float | None = None, probability: float | None = None,
                    title: str | None = None, with_limits: bool = True, pack=pack_mask) -> int:
    """One case whose prediction by `model_version` carries the given figures; returns the case id."""
    image, _ = repo.add_image(session, encode_image(synthetic_xray(seed)), "PNG")
    case, _ = repo.add_case(session, image, title or f"limits case {seed}", "test", truth, "tester")
    p = probability if probability is not None else (0.8 if predicted == "PNEUMONIA" else 0.2)
    cam = np.zeros((7, 7), dtype=np.float32)
    cam[seed % 7, (seed * 3) % 7] = 1.0
    repo.add_prediction(session, image.id, repo.PredictionRecord(
        model_version=model_version, probability=p, label=predicted, threshold=0.5, cam=cam, cam_target=predicted,
        cam_summary={"peak": None}, limits=make_limits(lung_share, flags, marker_delta) if with_limits else None,
        lung_mask=pack(lung_mask(seed)) if with_limits else None))
    return case.id


def _stand_in_limits() -> types.ModuleType:
    """The functions of core.limits the page uses, written the simplest way (test-only)."""
    module = types.ModuleType("core.limits")
    module.FLAGS = FLAGS
    module.FLAG_TITLES = {"heatmap_on_marker": "Heatmap on marker",
                          "heatmap_on_border": "Heatmap on border / collimation edge",
                          "heatmap_outside_lungs": "Heatmap outside the lungs",
                          "marker_dependent": "Marker-dependent (counterfactual)"}
    module.REVIEW_TAGS = ("R marker", "rib edge", "border", "diaphragm", "heart", "other")
    module.pack_mask = pack_mask

    def unpack_mask(data: bytes) -> np.ndarray:
        return np.unpackbits(np.frombuffer(zlib.decompress(data), dtype=np.uint8))[: 224 * 224].reshape(224, 224).astype(bool)

    def erase_markers(gray, boxes):
        out = np.array(gray, copy=True)
        for x0, y0, x1, y1 in boxes:
            out[y0:y1, x0:x1] = int(np.median(gray))
        return out

    def blank_outside(gray, mask):
        return np.where(mask, gray, 0).astype(np.uint8)

    def lung_contour_overlay(rgb, mask224):
        h, w = rgb.shape[:2]
        rows = (np.arange(h) * 224 // h)[:, None]
        cols = (np.arange(w) * 224 // w)[None, :]
        mask = mask224[rows, cols]
        edge = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1))
        out = np.array(rgb, copy=True)
        out[edge] = (0, 255, 0)
        return out

    module.unpack_mask, module.erase_markers, module.blank_outside = unpack_mask, erase_markers, blank_outside
    module.lung_contour_overlay = lung_contour_overlay
    return module


@pytest.fixture
def core_limits(monkeypatch):
    """core.limits: the real module once it exists, otherwise the stand-in above (in sys.modules for this test)."""
    if importlib.util.find_spec("core.limits") is not None:
        import core.limits

        return core.limits
    module = _stand_in_limits()
    monkeypatch.setitem(sys.modules, "core.limits", module)
    import core

    monkeypatch.setattr(core, "limits", module, raising=False)
    return module
