"""Gradient-based attributions through Captum 0.9.0, with the baselines they integrate from.

Hook-free methods (saliency, input × gradient, SmoothGrad, IG, GradientSHAP) differentiate the
shared model's forward directly; DeepLIFT and the guided methods replace ReLU gradients with
hooks, so they run on the private "hookable" copy (one non-inplace ReLU per use; see copies.py).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from captum.attr import (
    DeepLift,
    GradientShap,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
)

from core.explain.methods.context import MethodRun, seeded
from core.explain.methods.reduce import abs_channel_sum, signed_channel_sum
from core.imaging.preprocess import INPUT_SIZE, PIXEL_MEAN, PIXEL_STD

BLACK = -PIXEL_MEAN / PIXEL_STD  # a 0 grey level after normalisation


def black_baseline(x: torch.Tensor) -> torch.Tensor:
    return torch.full_like(x, BLACK)


def blurred_baseline(x: torch.Tensor, sigma_at_224: float) -> torch.Tensor:
    """The image Gaussian-blurred (σ given on the 224 grid, scaled to the input's): texture gone, exposure kept."""
    sigma = sigma_at_224 * x.shape[-2] / INPUT_SIZE
    image = x.detach()[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    if blurred.ndim == 2:  # cv2 drops a single channel's axis
        blurred = blurred[..., None]
    out = torch.from_numpy(np.ascontiguousarray(blurred)).permute(2, 0, 1)[None]
    return out.to(x.dtype).contiguous(memory_format=torch.channels_last)


def baseline(x: torch.Tensor, name: str, sigma_at_224: float) -> torch.Tensor:
    """'black', 'blur' (Gaussian-blurred image) or 'mean grey' (0 after normalisation); several joined by '+'."""
    makers = {
        "black": lambda: black_baseline(x),
        "blur": lambda: blurred_baseline(x, sigma_at_224),
        "mean grey": lambda: torch.zeros_like(x),
    }
    parts = name.split("+")
    unknown = [part for part in parts if part not in makers]
    if unknown:
        raise ValueError(f"unknown baseline {name!r}; use {', '.join(makers)}, or several joined by '+'")
    return torch.cat([makers[part]() for part in parts])


def noise_std(x: torch.Tensor, level: float) -> float:
    """SmoothGrad's σ as a fraction of the input's value range (Smilkov et al. use 10–20 %)."""
    return float(level * (x.detach().max() - x.detach().min()))


def saliency(run: MethodRun) -> np.ndarray:
    return abs_channel_sum(Saliency(run.forward).attribute(run.x, target=run.target, abs=True))


def input_x_gradient(run: MethodRun) -> np.ndarray:
    return signed_channel_sum(InputXGradient(run.forward).attribute(run.x, target=run.target))


def smoothgrad(run: MethodRun) -> np.ndarray:
    p = run.params
    samples = int(p["samples"])
    with seeded(int(p["seed"])):
        attribution = NoiseTunnel(Saliency(run.forward)).attribute(
            run.x,
            nt_type="smoothgrad",
            nt_samples=samples,
            nt_samples_batch_size=samples,  # every noisy copy in one batch
            stdevs=noise_std(run.x, float(p["noise_level"])),
            target=run.target,
            abs=False,  # average the raw gradients, then take magnitudes (Smilkov et al.)
        )
    return abs_channel_sum(attribution)


def integrated_gradients(run: MethodRun) -> np.ndarray:
    """Both IG entries: they differ only in their default baseline."""
    p = run.params
    attribution = IntegratedGradients(run.forward).attribute(
        run.x,
        baselines=baseline(run.x, str(p["baseline"]), float(p["blur_sigma"])),
        target=run.target,
        n_steps=int(p["steps"]),
        method=str(p["method"]),
        internal_batch_size=int(p["internal_batch_size"]),
    )
    return signed_channel_sum(attribution)


def deeplift(run: MethodRun) -> np.ndarray:
    with run.private("hookable") as twin:
        reference = baseline(run.x, str(run.params["baseline"]), float(run.params["blur_sigma"]))
        attribution = DeepLift(run.watched(twin)).attribute(run.x, baselines=reference, target=run.target)
    return signed_channel_sum(attribution)


def gradient_shap(run: MethodRun) -> np.ndarray:
    p = run.params
    with seeded(int(p["seed"])):
        attribution = GradientShap(run.forward).attribute(
            run.x,
            baselines=baseline(run.x, str(p["baselines"]), float(p["blur_sigma"])),
            n_samples=int(p["samples"]),
            stdevs=float(p["stdevs"]),
            target=run.target,
        )
    return signed_channel_sum(attribution)


def guided_backprop_attribution(run: MethodRun) -> torch.Tensor:
    with run.private("hookable") as twin:
        return GuidedBackprop(run.watched(twin)).attribute(run.x, target=run.target)


def guided_backprop(run: MethodRun) -> np.ndarray:
    return abs_channel_sum(guided_backprop_attribution(run))


def guided_gradcam(run: MethodRun) -> np.ndarray:
    with run.private("hookable") as twin:
        attribution = GuidedGradCam(run.watched(twin), twin.layer4).attribute(
            run.x, target=run.target, interpolate_mode=str(run.params["interpolate_mode"])
        )
    return abs_channel_sum(attribution)
