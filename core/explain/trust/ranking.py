"""Pixel orders shared by the perturbation tests: most relevant first, ties broken by a fixed random order.

CAMs are zero on much of the image (their ReLU) and LIME gives one value per superpixel, so many
pixels tie. A raster-order tie-break would delete the top rows first; a seeded random permutation
breaks ties without favouring any place, the same way for every test that removes pixels.
"""

from __future__ import annotations

import numpy as np


def ranking(heat: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices from the largest map value to the smallest (signed maps: most positive first)."""
    values = np.asarray(heat, dtype=np.float64).ravel()
    tie_break = np.random.default_rng(seed).permutation(values.size)
    return np.lexsort((tie_break, -values))


def rank_positions(heat: np.ndarray, seed: int = 0) -> np.ndarray:
    """(H, W) position of each pixel in `ranking` (0 = most relevant)."""
    order = ranking(heat, seed)
    positions = np.empty(order.size, dtype=np.int64)
    positions[order] = np.arange(order.size)
    return positions.reshape(np.shape(heat))


def unit_ranks(heat: np.ndarray, seed: int = 0) -> np.ndarray:
    """(H, W) float32 map of distinct values in (0, 1], the most relevant pixel 1: the order without ties.

    Percentile thresholds on it remove exactly the asked share of pixels (ROAD).
    """
    positions = rank_positions(heat, seed)
    return (1.0 - positions / positions.size).astype(np.float32)
