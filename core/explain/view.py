"""What the interactive viewer shows: the windowed radiograph, the map over it and the drawn extras.

Pure numpy on arrays already computed (the page reruns this on every slider move, so nothing here
runs a model): window/level first, then the map by the shared colour rule of core.explain.display.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.explain.display import COLOUR_MAPS, blend, cam_display_values
from core.imaging.window import DEFAULT, Window, apply_window

MAX_SIDE = 1024  # px: larger uploads are shown (and exported) at this size; the model saw 224 anyway


@dataclass(frozen=True)
class ViewSettings:
    window: Window = DEFAULT
    colour_map: str = "jet"
    opacity: float = 0.45
    show_map: bool = True

    def __post_init__(self):
        if self.colour_map not in COLOUR_MAPS:
            raise ValueError(f"colour map must be one of {sorted(COLOUR_MAPS)}")
        if not 0 <= self.opacity <= 1:
            raise ValueError("opacity must lie in 0..1")


def fit_for_display(gray: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """The grey image, shrunk (area-averaged) when its long side exceeds `max_side`."""
    h, w = gray.shape
    scale = max_side / max(h, w)
    if scale >= 1:
        return gray
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))


def compose_view(
    gray: np.ndarray,
    settings: ViewSettings,
    cam: np.ndarray | None = None,
    lung_mask: np.ndarray | None = None,
    marker_boxes: list | None = None,
) -> np.ndarray:
    """(h, w, 3) uint8: `gray` windowed, with the map `cam` (any coarse grid, 0..1), the lung outline
    (224-grid mask) and marker boxes (224-grid) drawn on it. (A student's mark is core.teaching's to draw.)"""
    from core.explain.limits import draw_boxes, lung_contour_overlay

    shown = apply_window(gray, settings.window)
    if cam is not None and settings.show_map and settings.opacity > 0:
        picture = blend(shown, cam_display_values(cam, shown.shape), settings.colour_map, settings.opacity)
    else:
        picture = np.repeat(shown[..., None], 3, axis=2)
    if lung_mask is not None:
        picture = lung_contour_overlay(picture, lung_mask)
    if marker_boxes:
        picture = draw_boxes(picture, marker_boxes)
    return picture
