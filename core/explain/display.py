"""One colour scale for every explanation map, so that cards can be compared by eye.

Every map is shown the same way: its positive part (for signed maps, the evidence *for* the target
class), divided by its 99th percentile among positive pixels and clipped to 1. The percentile rather
than the maximum keeps a single spiky gradient pixel from washing a whole map out; for class
activation maps the two are nearly the same.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from core.explain.limits import lung_contour_overlay
from core.i18n import N_

COLOUR_MAPS = {  # N_-marked labels: pages show them translated
    "viridis": N_("viridis (perceptually uniform)"),
    "cividis": N_("cividis (uniform, colour-blind safe)"),
    "jet": N_("jet (classic, not uniform)"),
}
PERCENTILE = 99.0


def display_values(heat: np.ndarray) -> np.ndarray:
    """(h, w) map → 0..1 by the shared rule above; an all-non-positive map is all zero."""
    positive = np.maximum(np.asarray(heat, dtype=np.float32), 0)
    nonzero = positive[positive > 0]
    if nonzero.size == 0:
        return np.zeros_like(positive)
    top = float(np.percentile(nonzero, PERCENTILE))
    return np.clip(positive / top, 0, 1) if top > 0 else np.zeros_like(positive)


def colourise(values: np.ndarray, colour_map: str) -> np.ndarray:
    """0..1 values → uint8 RGB through a matplotlib colour map."""
    if colour_map not in COLOUR_MAPS:
        raise ValueError(f"colour map must be one of {sorted(COLOUR_MAPS)}")
    return (colormaps[colour_map](np.asarray(values, dtype=np.float32))[..., :3] * 255).astype(np.uint8)


def blend(gray: np.ndarray, values: np.ndarray, colour_map: str, opacity: float) -> np.ndarray:
    """Colour `values` (0..1, same grid as the uint8 grey image) over it as RGB.

    Cold pixels stay see-through: the blend weight follows the value, so the anatomy shows where the map is low.
    """
    base = np.repeat(np.asarray(gray, dtype=np.float32)[..., None], 3, axis=2)
    alpha = (opacity * np.asarray(values, dtype=np.float32))[..., None]
    return (base * (1 - alpha) + colourise(values, colour_map).astype(np.float32) * alpha).astype(np.uint8)


def map_overlay(
    gray224: np.ndarray,
    heat: np.ndarray,
    colour_map: str = "viridis",
    opacity: float = 0.5,
    lung_mask: np.ndarray | None = None,
) -> np.ndarray:
    """The map over the model-input picture (same grid), with the lung outline when there is a mask."""
    blended = blend(gray224, display_values(heat), colour_map, opacity)
    return lung_contour_overlay(blended, lung_mask) if lung_mask is not None else blended


def cam_display_values(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A coarse class-activation map (e.g. 7×7 Grad-CAM) on an image's grid, by the shared rule above.

    Bilinear upsampling first, as the quiz's hot-region check reads the map, then the shared scaling.
    """
    from core.explain.gradcam import upsample

    return display_values(upsample(np.clip(cam, 0, None), *shape))


def colour_scale(colour_map: str, width: int = 256, height: int = 12) -> np.ndarray:
    return np.repeat(colourise(np.linspace(0, 1, width), colour_map)[None], height, axis=0)
