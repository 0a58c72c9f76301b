"""How alike two maps are: Spearman rank correlation and SSIM of their absolute values.

Both compare *where* a map puts importance, whatever its sign or scale (Adebayo et al., NeurIPS 2018,
compare absolute maps the same way): Spearman on the ranks of |map|, SSIM (Wang et al., IEEE TIP
2004; scikit-image) on |map| divided by its maximum, so both maps lie in 0..1. A flat map ranks no
pixel above another: its rank correlation with anything is taken as 0 (it shares no ranking).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata, spearmanr
from skimage.metrics import structural_similarity


def _flat(heat: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(heat, dtype=np.float64)).ravel()


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ of |a| and |b| over pixels (scipy.stats.spearmanr); 0.0 if either map is flat."""
    fa, fb = _flat(a), _flat(b)
    if fa.shape != fb.shape:
        raise ValueError(f"maps of different shapes: {np.shape(a)} and {np.shape(b)}")
    if np.ptp(fa) == 0 or np.ptp(fb) == 0:
        return 0.0
    return float(spearmanr(fa, fb).statistic)


def unit_abs(heat: np.ndarray) -> np.ndarray:
    """|map| / max |map| (0..1); a zero map stays zero."""
    magnitude = np.abs(np.asarray(heat, dtype=np.float64))
    top = float(magnitude.max()) if magnitude.size else 0.0
    return magnitude / top if top > 0 else np.zeros_like(magnitude)


def ssim_abs(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of the two absolute maps scaled to 0..1 (skimage structural_similarity, data_range 1)."""
    return float(structural_similarity(unit_abs(a), unit_abs(b), data_range=1.0))


def rank_correlation_matrix(maps: list[np.ndarray]) -> np.ndarray:
    """(M, M) Spearman ρ of every pair of absolute maps: Pearson correlation of their (tie-averaged) ranks.

    The same numbers as spearman_abs pair by pair, computed at once; flat maps get 0 off the diagonal.
    """
    ranks = np.stack([rankdata(_flat(m)) for m in maps])
    flat = np.ptp(ranks, axis=1) == 0
    centred = ranks - ranks.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    norms[flat] = 1.0
    unit = centred / norms[:, None]
    matrix = np.clip(unit @ unit.T, -1.0, 1.0)
    matrix[flat, :] = 0.0
    matrix[:, flat] = 0.0
    np.fill_diagonal(matrix, 1.0)
    return matrix
