"""Reductions of each library's output to one finite float32 (H, W) map on the model-input grid.

- CAMs: positive part, min–max scaled, bilinearly upsampled to the input grid and scaled again —
  what pytorch-grad-cam returns (`scale_cam_image`), applied here to our forward-only Grad-CAM too.
- Unsigned pixel attributions (saliency, SmoothGrad, guided methods): sum over the three input
  channels of absolute values. The radiograph's grey is repeated into three channels, which the
  first convolution weighs differently, so each channel carries part of a pixel's effect.
- Signed pixel attributions (input × gradient, IG, DeepLIFT, GradientSHAP, LRP): signed channel
  sum: a pixel's total contribution, for which completeness (attributions add up to the change
  in the logit) holds.
- Perturbation methods (occlusion, LIME, KernelSHAP): the channel mean; the occluded patch or
  superpixel spans all three channels, so each carries the same value.
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam.utils.image import scale_cam_image


class NonFiniteMap(ValueError):
    """A method produced NaN or infinity: a numerical failure that must not be shown as an explanation."""


def finite(name: str, heat: np.ndarray) -> np.ndarray:
    heat = np.ascontiguousarray(heat, dtype=np.float32)
    if not np.isfinite(heat).all():
        raise NonFiniteMap(f"{name}: the map has NaN or infinite values")
    return heat


def scale_cam(cam: np.ndarray | torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    """A raw (h, w) CAM → (H, W) in 0..1, exactly as pytorch-grad-cam's BaseCAM does for one target layer."""
    raw = cam.detach().cpu().numpy() if isinstance(cam, torch.Tensor) else np.asarray(cam)
    height, width = grid
    scaled = scale_cam_image(np.maximum(raw.astype(np.float32), 0)[None], (width, height))
    return scale_cam_image(np.maximum(scaled, 0))[0]


def library_cam(cams: np.ndarray) -> np.ndarray:
    """pytorch-grad-cam's (1, H, W) output: already positive, upsampled and scaled; the one image."""
    return np.asarray(cams, dtype=np.float32)[0]


def abs_channel_sum(attribution: torch.Tensor) -> np.ndarray:
    return attribution.detach()[0].abs().sum(0).cpu().numpy()


def signed_channel_sum(attribution: torch.Tensor) -> np.ndarray:
    return attribution.detach()[0].sum(0).cpu().numpy()


def channel_mean(attribution: torch.Tensor) -> np.ndarray:
    return attribution.detach()[0].mean(0).cpu().numpy()
