"""Grad-CAM for ResNet34's last block without a backward pass, and its overlay.

For a network that ends in global average pooling and one linear layer, the gradient of
class c's logit with respect to layer4's output A is w_c / (h·w) at every position, so
Grad-CAM's channel weights are the fc weights scaled by 1/(h·w) and
    Grad-CAM_c = ReLU(Σ_k w_ck · A_k) / (h·w)
which is the class activation map of Zhou et al. (2016). One forward pass gives the
prediction and the map; tests check this against autograd Grad-CAM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from torchvision.models import ResNet


def fast_gradcam(
    features: torch.Tensor, fc_weight: torch.Tensor, target: torch.Tensor, relu: bool = True
) -> torch.Tensor:
    """features (B, K, h, w), fc_weight (C, K), target (B,) class indices → (B, h, w), unnormalised."""
    h, w = features.shape[-2:]
    weights = fc_weight[target]  # (B, K)
    cam = torch.einsum("bk,bkhw->bhw", weights, features) / (h * w)
    return F.relu(cam) if relu else cam


def autograd_gradcam(model: ResNet, x: torch.Tensor, target: torch.Tensor, relu: bool = True) -> torch.Tensor:
    """Reference Grad-CAM: hooks on layer4, gradient of the target logit, channel-mean weights."""
    store: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        store["act"] = output

    handle = model.layer4.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            logits = model(x)
            logits.gather(1, target[:, None]).sum().backward()
    finally:
        handle.remove()
    act, grad = store["act"], store["act"].grad
    assert grad is not None  # retain_grad() on the hooked output, then backward() through it
    alpha = grad.mean(dim=(2, 3), keepdim=True)
    cam = (alpha * act).sum(1).detach()
    return F.relu(cam) if relu else cam


def normalise(cam: np.ndarray) -> np.ndarray:
    """Scale a map to 0..1 (an all-zero map stays zero)."""
    cam = np.asarray(cam, dtype=np.float32)
    top = float(cam.max())
    return cam / top if top > 0 else np.zeros_like(cam)


def upsample(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a (h, w) map to (height, width), values kept in 0..1.

    OpenCV's INTER_LINEAR samples at pixel centres, as torch's bilinear with align_corners=False
    does (the same values to float rounding, tested); it needs no thread pool for a 7×7 map.
    """
    cam = np.ascontiguousarray(cam, dtype=np.float32)
    if cam.shape == (height, width):
        return np.clip(cam, 0, 1)
    return np.clip(cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR), 0, 1)


def jet(values: np.ndarray) -> np.ndarray:
    """The 'jet' colormap (blue → red) for values in 0..1 → uint8 RGB."""
    v = np.asarray(values, dtype=np.float32)[..., None]
    centres = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # r, g, b
    return (np.clip(1.5 - np.abs(4.0 * v - centres), 0, 1) * 255).astype(np.uint8)


def render_overlay(gray: np.ndarray, cam: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """Blend the jet-coloured map over the radiograph at the radiograph's own size."""
    heat = jet(upsample(cam, *gray.shape))
    base = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    return (base * (1.0 - opacity) + heat.astype(np.float32) * opacity).astype(np.uint8)


def colour_bar(width: int = 256, height: int = 12) -> np.ndarray:
    """The overlay's colour scale, low (left) to high (right) attention."""
    return np.repeat(jet(np.linspace(0, 1, width))[None], height, axis=0)


ZONES = ("upper", "middle", "lower")


def cam_summary(cam: np.ndarray) -> dict:
    """Where the (0..1) map puts its mass, on a 3×2 grid of the image and its outer frame.

    Sides are the patient's: on a standard PA film the patient's right is the viewer's left.
    """
    heat = upsample(cam, 224, 224)
    total = float(heat.sum())
    if total <= 0:
        return {"peak": None, "zone_share": {}, "border_share": 0.0, "mass": 0.0}
    rows = np.array_split(np.arange(224), 3)
    zone_share = {}
    for zone, r in zip(ZONES, rows):
        band = heat[r]
        zone_share[f"right_{zone}"] = round(float(band[:, :112].sum() / total), 4)
        zone_share[f"left_{zone}"] = round(float(band[:, 112:].sum() / total), 4)
    frame = np.ones_like(heat, dtype=bool)
    m = 224 // 10  # outer 10 % on each side
    frame[m:-m, m:-m] = False
    py, px = np.unravel_index(int(np.argmax(heat)), heat.shape)
    peak_zone = f"{'right' if px < 112 else 'left'}_{ZONES[min(int(py) * 3 // 224, 2)]}"
    return {
        "peak": {"x": round(float(px) / 223, 3), "y": round(float(py) / 223, 3), "zone": peak_zone},
        "zone_share": zone_share,
        "border_share": round(float(heat[frame].sum() / total), 4),
        "mass": round(total / heat.size, 4),
    }
