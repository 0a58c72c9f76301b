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
_NOT_AN_IMAGE = N_("Not an image this tool reads: upload {accepted}.")


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


def _to_uint8(values: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Linear stretch of the range of the `keep` pixels (default: all) to 0..255; 8-bit input passes unchanged.

    Non-finite values (a hostile rescale) count as the range's ends, so no NaN reaches the cast.
    """
    if values.dtype == np.uint8:
        return values
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        values = np.nan_to_num(values, nan=0.0, posinf=np.finfo(np.float64).max, neginf=np.finfo(np.float64).min)
    ranged = values if keep is None else values[keep]
    if ranged.size == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    lo, hi = float(np.min(ranged)), float(np.max(ranged))
    if not hi > lo:
        return np.zeros(values.shape, dtype=np.uint8)
    if lo >= 0 and hi <= 255 and np.all(np.mod(ranged, 1) == 0):
        return np.clip(values, 0, 255).astype(np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = (np.clip(values, lo, hi) - lo) * (255.0 / (hi - lo)) if np.isfinite(hi - lo) else None
    if scaled is None or not np.all(np.isfinite(scaled)):  # a range wider than float64 holds
        scaled = (np.clip(values, lo, hi) / 2 - lo / 2) * (255.0 / (hi / 2 - lo / 2))
    return np.round(np.clip(scaled, 0, 255)).astype(np.uint8)


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
        raise ImageRejected(_NOT_AN_IMAGE, accepted=ACCEPTED) from None
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


def _voi_to_uint8(values: np.ndarray, ds, keep: np.ndarray | None = None) -> np.ndarray:
    """Apply the dataset's VOI LUT or window and map the *window's* output range to 0..255.

    The window is the display the modality chose: a value at the window centre must be mid-grey
    even if the image happens not to reach both window edges, so there is no stretch to the data
    range. Without a usable VOI (absent, or malformed such as width 0) the data range of the `keep`
    pixels (all but padding) is stretched.
    """
    from pydicom.pixels import apply_voi_lut

    lut = ds.get("VOILUTSequence")
    if lut and lut[0].get("LUTDescriptor") is not None and lut[0].get("LUTData") is not None:
        entries, first = int(lut[0].LUTDescriptor[0]) or 2**16, int(lut[0].LUTDescriptor[1])
        probe = np.arange(first, first + entries, dtype=np.int64)  # every LUT entry
    elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        probe = np.array([-1e30, 1e30])  # far below / above any window
    else:
        return _to_uint8(np.asarray(values), keep)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.asarray(apply_voi_lut(values, ds), dtype=np.float64)
            ends = np.asarray(apply_voi_lut(probe, ds), dtype=np.float64)
    except Exception:  # e.g. WindowWidth < 1 or an unsupported LUT depth: show the data range
        return _to_uint8(np.asarray(values), keep)
    lo, hi = float(np.min(ends)), float(np.max(ends))
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo) or not np.all(np.isfinite(out)):
        return _to_uint8(np.asarray(values), keep)
    return np.round(np.clip((out - lo) * (255.0 / (hi - lo)), 0, 255)).astype(np.uint8)


_NATIVE_SYNTAXES = (  # uncompressed transfer syntaxes
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",  # deflated: inflated on read
    "1.2.840.10008.1.2.2",
)
_IMPLICIT_LE, _EXPLICIT_LE, _EXPLICIT_BE = _NATIVE_SYNTAXES[0], _NATIVE_SYNTAXES[1], _NATIVE_SYNTAXES[3]


def _corrupt(exc: BaseException) -> ImageRejected:
    return ImageRejected(N_("The DICOM file is truncated or corrupt ({detail})."), detail=type(exc).__name__)


def _declares(name: str, value: object) -> ImageRejected:
    return ImageRejected(
        N_("The DICOM file declares {name} = {value}, which no radiograph has: it cannot be decoded."),
        name=name,
        value=value,
    )


def _padding_mask(stored: np.ndarray, ds) -> np.ndarray | None:
    """Pixels marked as padding (PixelPaddingValue, up to PixelPaddingRangeLimit), in stored values.

    Padding is the area outside the exposed image (e.g. a CT's round field of view): it must not
    set the range that the rest is stretched over, and it is shown black.
    """
    if ds.get("PixelPaddingValue") is None:
        return None
    bits = int(ds.BitsAllocated)

    def stored_value(value) -> int:
        value = int(value[0] if isinstance(value, (list, tuple)) or hasattr(value, "__getitem__") else value)
        # Written as US in files whose pixels are signed: read the same bits as a signed number.
        if int(ds.get("PixelRepresentation", 0) or 0) == 1 and value >= 2 ** (bits - 1):
            value -= 2**bits
        return value

    first = stored_value(ds.PixelPaddingValue)
    limit = ds.get("PixelPaddingRangeLimit")
    last = first if limit is None else stored_value(limit)
    lo, hi = min(first, last), max(first, last)
    mask = (stored >= lo) & (stored <= hi)
    return mask if mask.any() else None


def _check_pixel_module(ds, rows: int, cols: int, syntax) -> None:
    """Refuse claims no radiograph makes, and size claims, before any pixel buffer is allocated."""
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples not in (1, 3):
        raise _declares("SamplesPerPixel", samples)
    if "PixelData" in ds:
        bits = int(ds.get("BitsAllocated", 0) or 0)
        if bits not in (1, 8, 16, 32):
            raise _declares("BitsAllocated", bits)
        stored = int(ds.get("BitsStored", bits) or bits)
        if not 1 <= stored <= bits:
            raise _declares("BitsStored", stored)
        if int(ds.get("PixelRepresentation", 0) or 0) not in (0, 1):
            raise _declares("PixelRepresentation", ds.PixelRepresentation)
        from pydicom.pixels.utils import get_expected_length

        expected = get_expected_length(ds)  # knows 1-bit packing and YBR_FULL_422's shared chroma
        if syntax in _NATIVE_SYNTAXES and len(ds.PixelData) < expected:
            # Raw pixels: too few bytes can only be a cut-off file (pydicom would allocate, then fail).
            raise ImageRejected(
                N_("The DICOM file is truncated or corrupt (its pixel data is incomplete: {detail})."),
                detail=f"{len(ds.PixelData)} < {expected} bytes",
            )


def _read_dataset(data: bytes, *, bare: bool):
    """Parse the file; `bare`: no preamble and file meta (ACR-NEMA style), so pydicom must guess the encoding."""
    import pydicom
    from pydicom.uid import UID

    ds = pydicom.dcmread(io.BytesIO(data), force=bare)
    if bare:
        meta = ds.file_meta
        if meta.get("TransferSyntaxUID") is None and ds.original_encoding[0] is not None:
            # No file meta to name the transfer syntax: the encoding pydicom found says it (bare files are native).
            implicit, little = ds.original_encoding
            meta.TransferSyntaxUID = UID(_IMPLICIT_LE if implicit else (_EXPLICIT_LE if little else _EXPLICIT_BE))
    return ds


def _decode_dicom(data: bytes, *, bare: bool = False) -> XRayImage:
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    try:
        ds = _read_dataset(data, bare=bare)
        # Values are parsed lazily, so malformed elements only fail when read: read them here.
        has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        sop_class = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
        is_image_class = "Image Storage" in str(getattr(sop_class, "name", ""))
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    except Exception as exc:  # pydicom raises many types for malformed files
        if bare:  # blind parsing failed: nothing says these bytes were ever DICOM
            raise ImageRejected(_NOT_AN_IMAGE, accepted=ACCEPTED) from None
        raise _corrupt(exc) from None
    if bare and not (has_pixels and rows > 0 and cols > 0) and getattr(sop_class, "name", "") in ("", str(sop_class)):
        # Read blind, most bytes "parse" as a few junk elements: only pixels with a size or a known
        # SOP class make them a DICOM dataset worth a DICOM refusal.
        raise ImageRejected(_NOT_AN_IMAGE, accepted=ACCEPTED)
    if not has_pixels:
        # pydicom stops quietly at end of file, so a cut-off image just lacks its pixel data.
        if len(ds) == 0 or is_image_class or rows or cols or "BitsAllocated" in ds:
            raise ImageRejected(N_("The DICOM file is truncated or corrupt (its pixel data is missing)."))
        raise ImageRejected(N_("This DICOM file holds no image (no pixel data): it may be a report or a study index."))
    # Rule: one radiograph per upload. A series or cine loop has no "the" frame to analyse, so any
    # file declaring more than one frame is refused, whatever its frames hold (NumberOfFrames = 1 is read).
    if frames > 1:
        raise ImageRejected(N_("Multi-frame DICOM (a series or cine loop) is not accepted: upload one radiograph."))
    if frames < 1:
        raise _declares("NumberOfFrames", frames)
    if rows <= 0 or cols <= 0:
        raise ImageRejected(N_("The DICOM file is truncated or corrupt (no image size)."))
    _check_dimensions(cols, rows)
    try:
        _check_pixel_module(ds, rows, cols, syntax)
    except ImageRejected:
        raise
    except Exception as exc:  # a malformed SamplesPerPixel, BitsAllocated …
        raise _corrupt(exc) from None
    try:
        pixels = ds.pixel_array  # pydicom 3 returns YBR_* colour already converted to RGB
        if photometric == "PALETTE COLOR":
            pixels = apply_color_lut(pixels, ds)
    except Exception as exc:  # pydicom raises many types for undecodable pixel data
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
        # Colour (RGB, YBR, palette) is converted to grey; its colourfulness goes on to the input check,
        # which refuses colour photographs (stage 1) and keeps grey-as-RGB films.
        rgb = _to_uint8(pixels)
        return XRayImage(np.asarray(Image.fromarray(rgb).convert("L")), "DICOM", _colourfulness(rgb))
    if pixels.ndim != 2:
        raise ImageRejected(
            N_("DICOM pixel data has shape {shape}; one grayscale frame is needed."), shape=tuple(pixels.shape)
        )
    try:
        padding = _padding_mask(pixels, ds)
        with np.errstate(over="ignore", invalid="ignore"):
            values = apply_modality_lut(pixels, ds)
        gray = _voi_to_uint8(values, ds, None if padding is None else ~padding)
    except ImageRejected:
        raise
    except Exception as exc:  # malformed rescale, LUT or padding elements fail only when used
        raise _corrupt(exc) from None
    if photometric == "MONOCHROME1":  # bright = air in MONOCHROME1; show dense as bright
        gray = 255 - gray
    # A fresh array: never a view on buffers read from the file.
    gray = np.array(gray, dtype=np.uint8, order="C", copy=True)
    if padding is not None:
        gray[padding] = 0  # outside the exposed image: black, like a film's unexposed border
    return XRayImage(gray, "DICOM", 0.0)


def _looks_like_bare_dicom(data: bytes) -> bool:
    """A DICOM dataset written without preamble and file meta (ACR-NEMA style, old archive exports).

    Such files start with an element of group 0x0002 (meta without preamble) or 0x0008 (the
    identifying group), little or big endian; only then is pydicom asked to parse the bytes blind.
    """
    if len(data) < 8:
        return False
    return data[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


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
    if is_dicom(data):
        return _decode_dicom(data)
    try:
        return _decode_raster(data)
    except ImageRejected as refusal:
        if refusal.message != _NOT_AN_IMAGE or not _looks_like_bare_dicom(data):
            raise
    return _decode_dicom(data, bare=True)
