"""Maps that ignore the model: the control that must fail the trust tests, and the random baseline.

- `sobel_control`: the Sobel edge magnitude of the input picture. It never looks at the model, so
  it is the same map whatever the weights are, and the model-randomisation test must call it a
  FAIL: the proof that the test can fail. It is kept out of the Explanation Lab's registry
  (core.explain.methods.METHODS), so the Explain grid never offers it as an explanation.
- `random_like`: Gaussian-filtered white noise with the correlation length of a given map — a
  random map "of the same smoothness" (a blob the size of a CAM cell for a CAM, near-white noise
  for a gradient). A faithful map must beat it on deletion, insertion and ROAD; a rougher or
  smoother random map would make the comparison about smoothness, not about where the map points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from core.imaging.preprocess import PIXEL_MEAN, PIXEL_STD

# Filtering white noise with a Gaussian of σ gives an autocorrelation exp(-r² / 4σ²), which falls to
# one half at r = 2σ√ln2: the half-width of a map's autocorrelation gives the σ of its random twin.
HALF_WIDTH_PER_SIGMA = 2.0 * np.sqrt(np.log(2.0))


@dataclass(frozen=True)
class Control:
    name: str
    computes: str
    compute: Callable[[torch.Tensor], np.ndarray]  # (1, C, H, W) model input → (H, W) map
    signed: bool = False


def input_grey(x: torch.Tensor) -> np.ndarray:
    """The first channel of a (1, C, H, W) model input back on the 0..1 grey scale."""
    return (x.detach()[0, 0].cpu().numpy().astype(np.float32) * PIXEL_STD + PIXEL_MEAN).clip(0, 1)


def sobel_edges(x: torch.Tensor) -> np.ndarray:
    """Sobel gradient magnitude (3×3 kernels, OpenCV) of the input's grey picture: model-free."""
    grey = input_grey(x)
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return np.ascontiguousarray(np.hypot(dx, dy), dtype=np.float32)


CONTROLS: dict[str, Control] = {
    "sobel_control": Control(
        "sobel_control",
        "Sobel edge magnitude of the input picture; ignores the model (a control that must fail randomisation)",
        sobel_edges,
    ),
}


def _autocorrelation_profile(heat: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of the map at lags 0, 1, 2 … px, averaged over rows and columns.

    Zero-padded FFT (no wrap-around), each lag divided by its number of overlapping pixels.
    """
    centred = np.asarray(heat, dtype=np.float64) - float(np.mean(heat))
    h, w = centred.shape
    shape = (2 * h, 2 * w)
    spectrum = np.fft.rfft2(centred, s=shape)
    auto = np.fft.irfft2(np.abs(spectrum) ** 2, s=shape)
    overlap = np.fft.irfft2(np.abs(np.fft.rfft2(np.ones_like(centred), s=shape)) ** 2, s=shape)
    auto = auto / np.maximum(overlap, 1.0)
    n = min(h, w) // 2
    profile = (auto[0, :n] + auto[:n, 0]) / 2.0
    return profile / profile[0] if profile[0] > 0 else np.zeros(n)


def correlation_length(heat: np.ndarray) -> float:
    """Half-width (px) at which the map's autocorrelation falls to 0.5; 0 for a flat map."""
    profile = _autocorrelation_profile(heat)
    if not profile.any():
        return 0.0
    below = np.nonzero(profile < 0.5)[0]
    if below.size == 0:
        return float(len(profile))  # smoother than half the map: as smooth as can be measured here
    k = int(below[0])
    # Linear interpolation between lag k-1 (≥ 0.5) and lag k (< 0.5).
    a, b = profile[k - 1], profile[k]
    return float(k - 1 + (a - 0.5) / (a - b))


def smoothness_sigma(heat: np.ndarray) -> float:
    """σ (px) of the Gaussian filter whose filtered white noise has this map's correlation length."""
    return correlation_length(heat) / HALF_WIDTH_PER_SIGMA


def random_smooth_map(shape: tuple[int, int], sigma: float, seed: int) -> np.ndarray:
    """White noise (numpy default_rng(seed)) filtered by a Gaussian of `sigma` px (reflected edges)."""
    noise = np.random.default_rng(seed).standard_normal(shape)
    smooth = gaussian_filter(noise, sigma) if sigma > 0 else noise
    return np.ascontiguousarray(smooth, dtype=np.float32)


def random_like(heat: np.ndarray, seed: int) -> np.ndarray:
    """A random map of the same shape and smoothness as `heat` (the baseline faithfulness compares against)."""
    return random_smooth_map(np.shape(heat), smoothness_sigma(heat), seed)


def sigma_bucket(sigma: float) -> float:
    """σ rounded to the nearest power of two (within a factor √2), 0 below 2^-1.5: white noise.

    Maps whose smoothness falls in one bucket can share their random twins on an image, so that a
    benchmark of 20 methods runs a handful of random maps, not 20.
    """
    if sigma < 2.0**-1.5:
        return 0.0
    return float(2.0 ** round(np.log2(sigma)))
