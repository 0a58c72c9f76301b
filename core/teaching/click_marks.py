"""A student's click on a radiograph: where it lands on the Grad-CAM map, and drawing it.

Marks are (x, y) fractions of the image's width and height (0..1, origin top-left), so they do
not depend on the size the image was shown at.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from core.explain.gradcam import upsample

HOT = 0.5  # a click counts as "in a hot region" where the 0..1 map is at least this


def to_fractions(x: float, y: float, width: float, height: float) -> tuple[float, float]:
    """A click in display pixels → fractions of the shown size, clamped (a click on the last pixel edge is 1.0)."""
    if width <= 0 or height <= 0:
        raise ValueError("the shown image has no size")
    return min(max(x / width, 0.0), 1.0), min(max(y / height, 0.0), 1.0)


def pixel_of(mark: tuple[float, float], shape: tuple[int, int]) -> tuple[int, int]:
    """(row, column) of the pixel under the mark in an image of `shape` (height, width)."""
    height, width = shape
    return min(int(mark[1] * height), height - 1), min(int(mark[0] * width), width - 1)


def cam_value_at(cam: np.ndarray, mark: tuple[float, float], shape: tuple[int, int]) -> float:
    """The map's value under the mark, upsampled to the image exactly as the overlay is drawn."""
    row, col = pixel_of(mark, shape)
    return float(upsample(cam, *shape)[row, col])


def draw_mark(image: np.ndarray, mark: tuple[float, float], colour=(255, 255, 255)) -> np.ndarray:
    """An RGB copy of the (gray or RGB) image with a ring and cross-hair at the mark."""
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    canvas = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    row, col = pixel_of(mark, image.shape[:2])
    radius = max(4, round(min(image.shape[:2]) * 0.04))
    pen = ImageDraw.Draw(canvas)
    width = max(1, radius // 3)
    pen.ellipse((col - radius, row - radius, col + radius, row + radius), outline=(0, 0, 0), width=width + 2)
    pen.ellipse((col - radius, row - radius, col + radius, row + radius), outline=colour, width=width)
    pen.line((col - 2 * radius, row, col - radius, row), fill=colour, width=width)
    pen.line((col + radius, row, col + 2 * radius, row), fill=colour, width=width)
    pen.line((col, row - 2 * radius, col, row - radius), fill=colour, width=width)
    pen.line((col, row + radius, col, row + 2 * radius), fill=colour, width=width)
    return np.asarray(canvas)
