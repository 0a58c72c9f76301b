"""Window/level for an 8-bit grey radiograph: which grey levels fill the screen's black-to-white range.

A plain PNG or JPEG chest film has no Hounsfield units, so the presets are in 8-bit grey levels:
a window of `width` grey levels centred on `level` is stretched to 0..255 and everything outside it is
clipped. A narrower window raises the contrast; a lower level brightens the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.i18n import N_


@dataclass(frozen=True)
class Window:
    level: float  # the grey level shown as mid-grey
    width: float  # how many grey levels span black to white

    def __post_init__(self):
        if not 0 <= self.level <= 255:
            raise ValueError("the window level must lie in 0..255")
        if not 1 <= self.width <= 512:
            raise ValueError("the window width must lie in 1..512")


# Identity for 8-bit pixels: level 127.5 and width 255 map grey g to g.
DEFAULT = Window(127.5, 255.0)
PRESETS = {  # name → (window, N_-marked label)
    "default": (DEFAULT, N_("As stored")),
    "lung": (Window(100.0, 160.0), N_("Lung (dark range stretched)")),
    "bone": (Window(175.0, 130.0), N_("Soft tissue / bone-like (bright range stretched)")),
}


def window_table(window: Window) -> np.ndarray:
    """The 256-entry lookup table of `window`: grey level in → displayed grey level out."""
    low = window.level - window.width / 2
    levels = np.arange(256, dtype=np.float64)
    return np.clip(np.round((levels - low) / window.width * 255), 0, 255).astype(np.uint8)


def apply_window(gray: np.ndarray, window: Window) -> np.ndarray:
    """A windowed copy of an (h, w) uint8 grey image; the input is left as it is."""
    pixels = np.asarray(gray)
    if pixels.dtype != np.uint8 or pixels.ndim != 2:
        raise ValueError("window/level needs an (h, w) uint8 grey image")
    return window_table(window)[pixels]
