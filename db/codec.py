"""Bytes we store: grayscale PNGs without metadata, thumbnails, compressed CAM maps."""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage

from core.vocabulary import pixel_hash

THUMBNAIL_SIDE = 160


@dataclass(frozen=True)
class EncodedImage:
    sha256: str
    width: int
    height: int
    png: bytes
    thumbnail: bytes


def _png(image: PILImage.Image) -> bytes:
    # A PIL image built from an array carries no text chunks, EXIF or ICC: only pixels are written.
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def encode_image(pixels: np.ndarray) -> EncodedImage:
    """(H, W) uint8 grayscale → PNG, thumbnail and content hash."""
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (H, W) uint8 grayscale array, got {pixels.shape} {pixels.dtype}")
    image = PILImage.fromarray(np.ascontiguousarray(pixels), mode="L")
    thumb = image.copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), PILImage.Resampling.LANCZOS)
    return EncodedImage(pixel_hash(pixels), image.width, image.height, _png(image), _png(thumb))


def decode_png(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L"))


def pack_cam(cam: np.ndarray) -> bytes:
    """A (h, w) float map in 0..1 → zlib(float16): 7×7 maps take ~100 bytes."""
    return zlib.compress(np.asarray(cam, dtype="<f2").tobytes(), level=6)


def unpack_cam(data: bytes, height: int, width: int) -> np.ndarray:
    return np.frombuffer(zlib.decompress(data), dtype="<f2").reshape(height, width).astype(np.float32)
