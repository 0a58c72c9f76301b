"""Perturbation-based attributions through Captum 0.9.0: occlusion, and LIME / KernelSHAP on superpixels.

They only run forward passes, on the shared model. Hidden pixels take, by default, the value 0
after normalisation: the training set's mean grey, "no signal" (as core.explain.limits blanks with).
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import KernelShap, Lime, Occlusion
from skimage.segmentation import slic

from core.explain.methods.context import MethodRun, seeded
from core.explain.methods.gradient import BLACK
from core.explain.methods.reduce import channel_mean
from core.imaging.preprocess import PIXEL_MEAN, PIXEL_STD

FILLS = {"mean grey": 0.0, "black": BLACK}


def fill(name: str) -> float:
    if name not in FILLS:
        raise ValueError(f"unknown baseline {name!r}; use {', '.join(FILLS)}")
    return FILLS[name]


def occlusion_windows(grid: tuple[int, int], patch: int, stride: int) -> int:
    rows, cols = ((size - patch) // stride + 1 for size in grid)
    return rows * cols


def occlusion(run: MethodRun) -> np.ndarray:
    p = run.params
    channels = int(run.x.shape[1])
    patch, stride = int(p["patch"]), int(p["stride"])
    attribution = Occlusion(run.forward).attribute(
        run.x,
        sliding_window_shapes=(channels, patch, patch),
        strides=(channels, stride, stride),
        baselines=fill(str(p["baseline"])),
        target=run.target,
        perturbations_per_eval=int(p["perturbations_per_eval"]),
    )
    return channel_mean(attribution)


def superpixels(x: torch.Tensor, n_segments: int, compactness: float) -> torch.Tensor:
    """SLIC superpixels (Achanta et al., TPAMI 2012) of the grey image → (1, 1, H, W) labels from 0."""
    grey = (x.detach()[0, 0].cpu().numpy() * PIXEL_STD + PIXEL_MEAN).clip(0, 1)
    labels = slic(grey, n_segments=n_segments, compactness=compactness, channel_axis=None, start_label=0)
    return torch.from_numpy(labels.astype(np.int64))[None, None]


def _surrogate(run: MethodRun, explainer_class) -> np.ndarray:
    p = run.params
    mask = superpixels(run.x, int(p["n_segments"]), float(p["compactness"]))
    with seeded(int(p["seed"])):
        attribution = explainer_class(run.forward).attribute(
            run.x,
            baselines=fill(str(p["baseline"])),
            target=run.target,
            feature_mask=mask,
            n_samples=int(p["samples"]),
            perturbations_per_eval=int(p["perturbations_per_eval"]),
        )
    return channel_mean(attribution)


def lime(run: MethodRun) -> np.ndarray:
    return _surrogate(run, Lime)


def kernel_shap(run: MethodRun) -> np.ndarray:
    return _surrogate(run, KernelShap)
