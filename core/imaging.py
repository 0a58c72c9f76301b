"""Uploaded bytes → validated 8-bit grayscale radiograph, or one specific refusal.

Only pixels leave this module: DICOM and EXIF metadata (names, IDs, dates, institutions)
are read only as far as decoding needs and never returned, so they cannot reach the library.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_FILE_BYTES = 30 * 1024 * 1024
MAX_PIXELS = 50_000_000
MIN_SIDE = 64
ACCEPTED = "PNG, JPEG or DICOM"


class ImageRejected(ValueError):
    """The input is not something we analyse; the message says exactly why."""


@dataclass(frozen=True)
class XRayImage:
    pixels: np.ndarray  # (H, W) uint8, display orientation, MONOCHROME2 (bright = dense)
    source_format: str  # "PNG", "JPEG" or "DICOM"
    colourfulness: float  # mean chroma of the original (0 for true greyscale); photos score high

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def _check_dimensions(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageRejected(
            f"Image is {width}×{height} = {width * height / 1e6:.0f} megapixels; "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageRejected(f"Image is {width}×{height} px; at least {MIN_SIDE} px a side is needed.")


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Linear stretch of any numeric range to 0..255 (8-bit input passes unchanged)."""
    if values.dtype == np.uint8:
        return values
    values = values.astype(np.float64)
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    if lo >= 0 and hi <= 255 and np.all(np.mod(values, 1) == 0):
        return values.astype(np.uint8)
    return np.round((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk colourfulness; ≈0 for grey radiographs, >20 for most photos."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _decode_raster(data: bytes) -> XRayImage:
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected(f"Not an image this tool reads: upload {ACCEPTED}.") from None
    if image.format not in ("PNG", "JPEG"):
        raise ImageRejected(f"{image.format} files are not accepted: upload {ACCEPTED}.")
    _check_dimensions(*image.size)
    if getattr(image, "n_frames", 1) > 1:
        raise ImageRejected("Animated or multi-frame images are not accepted: upload a single radiograph.")
    fmt = image.format
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"The {fmt} file is truncated or corrupt ({exc}).") from None

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return XRayImage(_to_uint8(np.asarray(image)), fmt, 0.0)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("LA", "RGBA", "PA"):
        # Transparent pixels become black, like the unexposed border of a film.
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    if image.mode == "L":
        return XRayImage(np.asarray(image), fmt, 0.0)
    if image.mode == "1":
        return XRayImage(np.asarray(image.convert("L")), fmt, 0.0)
    rgb = image.convert("RGB")
    colour = _colourfulness(np.asarray(rgb))
    return XRayImage(np.asarray(rgb.convert("L")), fmt, colour)


def _decode_dicom(data: bytes) -> XRayImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError) as exc:
        raise ImageRejected(f"The DICOM file is truncated or corrupt ({type(exc).__name__}).") from None
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageRejected("This DICOM file holds no image (no pixel data): it may be a report or a study index.")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise ImageRejected("Multi-frame DICOM (a series or cine loop) is not accepted: upload one radiograph.")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    _check_dimensions(cols, rows)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for undecodable pixel data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", "an unknown transfer syntax")
        raise ImageRejected(f"The DICOM pixel data ({name}) cannot be decoded: {type(exc).__name__}.") from None
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if pixels.ndim == 3 and photometric in ("RGB", "YBR_FULL", "YBR_FULL_422"):
        if photometric != "RGB":
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, photometric, "RGB")
        rgb = _to_uint8(pixels)
        return XRayImage(np.asarray(Image.fromarray(rgb).convert("L")), "DICOM", _colourfulness(rgb))
    if pixels.ndim != 2:
        raise ImageRejected(f"DICOM pixel data has shape {pixels.shape}; one grayscale frame is needed.")
    values = apply_modality_lut(pixels, ds)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds)
    gray = _to_uint8(np.asarray(values))
    if photometric == "MONOCHROME1":  # bright = air in MONOCHROME1; show dense as bright
        gray = 255 - gray
    return XRayImage(np.ascontiguousarray(gray), "DICOM", 0.0)


def is_dicom(data: bytes) -> bool:
    return len(data) >= 132 and data[128:132] == b"DICM"


def load_image(data: bytes) -> XRayImage:
    """Validate and decode an upload. Raises ImageRejected with a user-facing reason."""
    if not data:
        raise ImageRejected("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImageRejected(
            f"The file is {len(data) / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB."
        )
    return _decode_dicom(data) if is_dicom(data) else _decode_raster(data)
