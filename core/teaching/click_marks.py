"""A student's click on a radiograph: where it lands on the Grad-CAM map, and drawing it.

Marks are (x, y) fractions of the image's width and height (0..1, origin top-left), so they do
not depend on the size the image was shown at, nor on the part of it that was shown (MarkView: a zoomed
area of whole pixels, whose clicks map back to the whole image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from core.explain.gradcam import upsample

HOT = 0.5  # a click counts as "in a hot region" where the 0..1 map is at least this


def to_fractions(x: float, y: float, width: float, height: float) -> tuple[float, float]:
    """A click in display pixels → fractions of the shown size, clamped (a click on the last pixel edge is 1.0)."""
    if width <= 0 or height <= 0:
        raise ValueError("the shown image has no size")
    return min(max(x / width, 0.0), 1.0), min(max(y / height, 0.0), 1.0)


ZOOMS = (1, 2, 3, 4)  # the marking surface's zoom factors


@dataclass(frozen=True)
class MarkView:
    """The part of an image a marking surface shows: whole pixels, rows top..top+height, columns left..left+width."""

    shape: tuple[int, int]  # the whole image's (height, width)
    top: int
    left: int
    height: int
    width: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.top : self.top + self.height, self.left : self.left + self.width]

    def to_image(self, shown: tuple[float, float]) -> tuple[float, float]:
        """A click as fractions of the shown area → a mark as fractions of the whole image."""
        rows, cols = self.shape
        return (self.left + shown[0] * self.width) / cols, (self.top + shown[1] * self.height) / rows

    def to_shown(self, mark: tuple[float, float]) -> tuple[float, float] | None:
        """A mark on the whole image → fractions of the shown area; None when the area does not show it."""
        rows, cols = self.shape
        x, y = (mark[0] * cols - self.left) / self.width, (mark[1] * rows - self.top) / self.height
        return (x, y) if 0 <= x <= 1 and 0 <= y <= 1 else None


def mark_view(shape: tuple[int, int], zoom: float = 1, centre: tuple[float, float] = (0.5, 0.5)) -> MarkView:
    """The area of an image of `shape` shown at `zoom` around `centre` (fractions), kept inside the image.

    Its edges fall on whole pixels, so that the crop drawn and the clicks mapped back agree to the pixel.
    """
    if zoom < 1:
        raise ValueError("zoom is 1 (the whole image) or more")
    rows, cols = shape
    height, width = max(1, round(rows / zoom)), max(1, round(cols / zoom))
    top = min(max(round(centre[1] * rows - height / 2), 0), rows - height)
    left = min(max(round(centre[0] * cols - width / 2), 0), cols - width)
    return MarkView(shape, top, left, height, width)


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
