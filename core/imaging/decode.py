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

from core.vocabulary import N_, Term, Worded

MAX_FILE_BYTES = 30 * 1024 * 1024
MAX_PIXELS = 50_000_000
MIN_SIDE = 64
ACCEPTED = Term(N_("PNG, JPEG or DICOM"))  # pages show _(ACCEPTED); a refusal translates it with itself


class ImageRejected(Worded, ValueError):
    """The input is not something we analyse; the message (a catalogue message, see Worded) says exactly why."""


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
            N_("Image is {width}×{height} = {megapixels:.0f} megapixels; the limit is {limit:.0f} megapixels."),
            width=width,
            height=height,
            megapixels=width * height / 1e6,
            limit=MAX_PIXELS / 1e6,
        )
    if min(width, height) < MIN_SIDE:
        raise ImageRejected(
            N_("Image is {width}×{height} px; at least {least} px a side is needed."),
            width=width,
            height=height,
            least=MIN_SIDE,
        )


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
        # Widened: exif_transpose/convert below return a plain Image, not the opened ImageFile.
        image: Image.Image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        # Pillow refuses headers claiming hundreds of megapixels before we can see the size.
        raise ImageRejected(
            N_("Image is far over the limit of {limit:.0f} megapixels."), limit=MAX_PIXELS / 1e6
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageRejected(N_("Not an image this tool reads: upload {accepted}."), accepted=ACCEPTED) from None
    # Cameras write "MPO" JPEGs (a .jpg with extra preview/depth frames); frame 0 is the picture.
    fmt = "JPEG" if image.format == "MPO" else image.format
    if fmt not in ("PNG", "JPEG"):
        raise ImageRejected(
            N_("{format} files are not accepted: upload {accepted}."), format=image.format, accepted=ACCEPTED
        )
    _check_dimensions(*image.size)
    if image.format != "MPO" and getattr(image, "n_frames", 1) > 1:
        raise ImageRejected(N_("Animated or multi-frame images are not accepted: upload a single radiograph."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            N_("The {format} file is truncated or corrupt ({detail})."), format=fmt, detail=exc
        ) from None

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


def _voi_to_uint8(values: np.ndarray, ds) -> np.ndarray:
    """Apply the dataset's VOI LUT or window and map the *window's* output range to 0..255.

    The window is the display the modality chose: a value at the window centre must be mid-grey
    even if the image happens not to reach both window edges, so there is no stretch to the data
    range. Without a usable VOI (absent, or malformed such as width 0) the data range is stretched.
    """
    from pydicom.pixels import apply_voi_lut

    lut = ds.get("VOILUTSequence")
    if lut and lut[0].get("LUTDescriptor") is not None and lut[0].get("LUTData") is not None:
        entries, first = int(lut[0].LUTDescriptor[0]) or 2**16, int(lut[0].LUTDescriptor[1])
        probe = np.arange(first, first + entries, dtype=np.int64)  # every LUT entry
    elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        probe = np.array([-1e30, 1e30])  # far below / above any window
    else:
        return _to_uint8(np.asarray(values))
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.asarray(apply_voi_lut(values, ds), dtype=np.float64)
            ends = np.asarray(apply_voi_lut(probe, ds), dtype=np.float64)
    except Exception:  # e.g. WindowWidth < 1 or an unsupported LUT depth: show the data range
        return _to_uint8(np.asarray(values))
    lo, hi = float(np.min(ends)), float(np.max(ends))
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        return _to_uint8(np.asarray(values))
    return np.round(np.clip((out - lo) * (255.0 / (hi - lo)), 0, 255)).astype(np.uint8)


_NATIVE_SYNTAXES = (  # uncompressed transfer syntaxes
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",  # deflated: inflated on read
    "1.2.840.10008.1.2.2",
)


def _decode_dicom(data: bytes) -> XRayImage:
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        # Values are parsed lazily, so malformed elements only fail when read: read them here.
        has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        sop_class = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
        is_image_class = "Image Storage" in str(getattr(sop_class, "name", ""))
    except Exception as exc:  # pydicom raises many types for malformed files
        raise ImageRejected(
            N_("The DICOM file is truncated or corrupt ({detail})."), detail=type(exc).__name__
        ) from None
    if not has_pixels:
        # pydicom stops quietly at end of file, so a cut-off image just lacks its pixel data.
        if len(ds) == 0 or is_image_class or rows or cols or "BitsAllocated" in ds:
            raise ImageRejected(N_("The DICOM file is truncated or corrupt (its pixel data is missing)."))
        raise ImageRejected(N_("This DICOM file holds no image (no pixel data): it may be a report or a study index."))
    if frames > 1:
        raise ImageRejected(N_("Multi-frame DICOM (a series or cine loop) is not accepted: upload one radiograph."))
    if rows <= 0 or cols <= 0:
        raise ImageRejected(N_("The DICOM file is truncated or corrupt (no image size)."))
    _check_dimensions(cols, rows)
    try:
        pixels = ds.pixel_array  # pydicom 3 returns YBR_* colour already converted to RGB
        if photometric == "PALETTE COLOR":
            pixels = apply_color_lut(pixels, ds)
    except Exception as exc:  # pydicom raises many types for undecodable pixel data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if syntax in _NATIVE_SYNTAXES:  # raw pixels fail only when cut short
            raise ImageRejected(
                N_("The DICOM file is truncated or corrupt (its pixel data is incomplete: {detail})."),
                detail=type(exc).__name__,
            ) from None
        name = getattr(syntax, "name", "an unknown transfer syntax")
        raise ImageRejected(
            N_("The DICOM pixel data ({syntax}) cannot be decoded: {detail}."), syntax=name, detail=type(exc).__name__
        ) from None
    if pixels.ndim == 3 and pixels.shape[-1] == 3:
        rgb = _to_uint8(pixels)
        return XRayImage(np.asarray(Image.fromarray(rgb).convert("L")), "DICOM", _colourfulness(rgb))
    if pixels.ndim != 2:
        raise ImageRejected(
            N_("DICOM pixel data has shape {shape}; one grayscale frame is needed."), shape=tuple(pixels.shape)
        )
    values = apply_modality_lut(pixels, ds)
    gray = _voi_to_uint8(values, ds)
    if photometric == "MONOCHROME1":  # bright = air in MONOCHROME1; show dense as bright
        gray = 255 - gray
    # A fresh array: never a view on buffers read from the file.
    return XRayImage(np.array(gray, dtype=np.uint8, order="C", copy=True), "DICOM", 0.0)


def is_dicom(data: bytes) -> bool:
    return len(data) >= 132 and data[128:132] == b"DICM"


def load_image(data: bytes) -> XRayImage:
    """Validate and decode an upload. Raises ImageRejected with a user-facing reason."""
    if not data:
        raise ImageRejected(N_("The file is empty."))
    if len(data) > MAX_FILE_BYTES:
        raise ImageRejected(
            N_("The file is {size:.1f} MB; the limit is {limit} MB."),
            size=len(data) / 2**20,
            limit=MAX_FILE_BYTES // 2**20,
        )
    return _decode_dicom(data) if is_dicom(data) else _decode_raster(data)
