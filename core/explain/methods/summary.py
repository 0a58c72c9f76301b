"""Summary figures of one map: where its peak is and how its mass falls on lungs, border frame and markers.

Mass is the positive part of the map (for signed maps: the evidence for the target class); signed
maps also get their shares of absolute mass. Shares come from core.explain.limits.explanation_shares,
so they are measured exactly like the Grad-CAM shares of the model-limits probe.
"""

from __future__ import annotations

import numpy as np

from core.explain.limits import explanation_shares
from core.imaging.preprocess import INPUT_SIZE

SHARE_KEYS = ("lung_share", "border_share", "marker_share", "mediastinum_share", "below_diaphragm_share")


def _shares(mass: np.ndarray, lung_mask: np.ndarray | None, boxes: list[list[int]]) -> dict:
    top = float(mass.max()) if mass.size else 0.0
    lungs = lung_mask if lung_mask is not None else np.zeros(mass.shape, bool)
    shares = explanation_shares(mass / top if top > 0 else np.zeros_like(mass), lungs, boxes)
    out = {key: shares[key] for key in SHARE_KEYS}
    if lung_mask is None:  # without a segmenter there are no lung-based regions
        out.update(lung_share=None, mediastinum_share=None, below_diaphragm_share=None)
    return out


def summarise(heat: np.ndarray, signed: bool, lung_mask: np.ndarray | None, boxes: list[list[int]]) -> dict:
    """Peak (row, col) on the 224 grid and region shares; `lung_mask` (224, 224) bool or None."""
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"summaries are on the {INPUT_SIZE}-px model grid; got a map of shape {heat.shape}")
    positive = np.maximum(heat, 0)
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    summary = {
        "peak": {"row": int(row), "col": int(col)} if positive.max() > 0 else None,
        "positive_mass_fraction": round(float(positive.sum() / max(float(np.abs(heat).sum()), 1e-30)), 4),
        "shares": _shares(positive, lung_mask, boxes),
    }
    if signed:
        summary["shares_absolute"] = _shares(np.abs(heat), lung_mask, boxes)
    return summary
