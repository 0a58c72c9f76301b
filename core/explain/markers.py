"""Burned-in text markers ("R", "L", "AP", dates): bright, compact glyphs off the lung fields.

Works on the 224-px model-input grid. A white top-hat keeps only structures smaller than
its kernel that are brighter than their surroundings (glyphs, not bone or soft tissue);
glyphs of one word are merged, and a candidate must be small, not a thin line (collimator
edges and wires are lines), mostly outside the lungs and not in the central column where
the spine and mediastinum are.
"""

from __future__ import annotations

import cv2
import numpy as np

TOPHAT_KERNEL = 13  # px at 224: a glyph is smaller, a rib or clavicle is longer
MIN_TOPHAT = 45  # grey levels above the local background
MIN_BRIGHTNESS = 150
MAX_BOX = 48  # px: a word of a few glyphs at most
MIN_AREA, MAX_AREA = 6, 600
MAX_BACKGROUND = 110  # median grey level around a glyph
SIDE_BAND = 0.2  # share of the width on each side where markers over tissue are looked for


def detect_markers(gray224: np.ndarray, lung_mask: np.ndarray | None = None) -> list[list[int]]:
    """Boxes [x0, y0, x1, y1] (x1/y1 exclusive) of likely burned-in markers, largest contrast first."""
    gray = np.ascontiguousarray(gray224, dtype=np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (TOPHAT_KERNEL, TOPHAT_KERNEL))
    tophat = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel)
    bright = (tophat >= MIN_TOPHAT) & (gray >= MIN_BRIGHTNESS)
    # Join the glyphs of one word ("AP", a date) before judging its size.
    joined = cv2.dilate(bright.astype(np.uint8), np.ones((3, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    h, w = gray.shape
    lungs = None
    if lung_mask is not None and lung_mask.any():
        lungs = cv2.dilate(lung_mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    found = []
    for i in range(1, n):
        x, y, bw, bh, _ = stats[i]
        component = (labels[y : y + bh, x : x + bw] == i) & bright[y : y + bh, x : x + bw]
        area = int(component.sum())
        if not (MIN_AREA <= area <= MAX_AREA) or bw > MAX_BOX or bh > MAX_BOX or min(bw, bh) < 3:
            continue
        if max(bw, bh) / min(bw, bh) > 4:  # a line, not a glyph
            continue
        if area / (bw * bh) > 0.85:  # a solid blob (electrode, button), not strokes of text
            continue
        # Text is burned in where the film is dark (outside the body), or drawn near-saturated
        # white over tissue; bone edges are neither.
        ring = gray[max(0, y - 4) : y + bh + 4, max(0, x - 4) : x + bw + 4]
        ring_pixels = ring[
            ~cv2.dilate(
                bright[max(0, y - 4) : y + bh + 4, max(0, x - 4) : x + bw + 4].astype(np.uint8),
                np.ones((3, 3), np.uint8),
            ).astype(bool)
        ]
        on_dark = ring_pixels.size > 0 and float(np.median(ring_pixels)) <= MAX_BACKGROUND
        # Saturated glyphs over tissue are taken only near the film's sides, where markers are
        # placed; in the middle they are bone ends, clips and ECG snaps.
        saturated = (
            int(gray[y : y + bh, x : x + bw][component].max()) >= 240
            and float(tophat[y : y + bh, x : x + bw][component].mean()) >= 70
            and min(x + bw / 2, w - x - bw / 2) < SIDE_BAND * w
        )
        if not (on_dark or saturated):
            continue
        cx, cy = x + bw / 2, y + bh / 2
        if abs(cx - w / 2) < 0.12 * w and h * 0.15 < cy < h * 0.85:  # spine / mediastinum column
            continue
        if lungs is not None and lungs[y : y + bh, x : x + bw].mean() > 0.5:
            continue
        contrast = float(tophat[y : y + bh, x : x + bw][component].mean())
        found.append((contrast, [int(x), int(y), int(x + bw), int(y + bh)]))
    found.sort(key=lambda item: -item[0])
    return [box for _, box in found[:4]]


def marker_mask(boxes: list[list[int]], shape: tuple[int, int] = (224, 224), pad: int = 3) -> np.ndarray:
    """Boolean mask of the boxes, grown by `pad` px (the CAM is coarse; a glyph's halo counts)."""
    mask = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad] = True
    return mask


def erase_markers(gray224: np.ndarray, boxes: list[list[int]]) -> np.ndarray:
    """Inpaint the markers from the surrounding pixels (Telea 2004), leaving the rest untouched."""
    gray = np.ascontiguousarray(gray224, dtype=np.uint8)
    if not boxes:
        return gray.copy()
    mask = marker_mask(boxes, gray.shape, pad=2).astype(np.uint8) * 255
    return cv2.inpaint(gray, mask, 5, cv2.INPAINT_TELEA)
