"""Fuzzing the upload decoder (`load_image`: bytes → validated image) with hypothesis.

Properties, for PNG, JPEG, Part-10 DICOM and DICOM without file meta:
- nothing but ImageRejected comes out, and what is read is a valid 8-bit picture;
- a header claiming more than the pixel limit is refused before any pixel buffer exists: pydicom's
  `pixel_array` is never touched, and the traced peak memory stays small (tracemalloc sees numpy's
  and Python's allocations, so a decoder that allocated the claimed size would show).

The suite runs a bounded number of examples, derandomized (the same every run, ≤ 60 s on 2 cores).
A longer, random run: `CXR_FUZZ_EXAMPLES=20000 nice -n 15 .venv/bin/python -m pytest tests/test_decode_fuzz.py -q`
(that many examples per test; see the README).
"""

from __future__ import annotations

import io
import os
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)
from test_dicom_archive import bare_dicom
from test_imaging import encode, make_dicom, png_header_only, twelve_bit_ramp

from core.imaging.decode import MAX_PIXELS, ImageRejected, XRayImage, load_image

LONG = int(os.environ.get("CXR_FUZZ_EXAMPLES", "0") or 0)


def budget(default: int):
    """hypothesis settings: `default` examples in the suite (derandomized), CXR_FUZZ_EXAMPLES in a long run."""
    return settings(
        max_examples=LONG or default,
        deadline=None,  # one slow decode on a busy machine is not a finding
        derandomize=not LONG,
        database=None,  # no .hypothesis folder in the checkout; failures print their reproducing example
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def decode(data: bytes) -> XRayImage | None:
    """load_image under the property: an XRayImage or ImageRejected (returned as None); anything else fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom and Pillow warn about odd files; only exceptions count
        try:
            image = load_image(data)
        except ImageRejected as refusal:
            assert str(refusal) and refusal.message
            return None
    assert isinstance(image, XRayImage)
    assert image.pixels.dtype == np.uint8 and image.pixels.ndim == 2
    assert image.pixels.size <= MAX_PIXELS and min(image.pixels.shape) >= 64
    assert np.isfinite(image.colourfulness)
    return image


# ---------------------------------------------------------------------------- seeds


def _ramp(h: int = 64, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return ((x * 3 + y * 5) % 256).astype(np.uint8)


def _seeds() -> dict[str, bytes]:
    seeds = {
        "png": encode(Image.fromarray(_ramp()), "PNG"),
        "png16": encode(Image.fromarray(twelve_bit_ramp().astype(np.uint16) * 16), "PNG"),
        "jpeg": encode(Image.fromarray(_ramp()), "JPEG", quality=80),
        "jpeg_rgb": encode(Image.fromarray(_ramp()).convert("RGB"), "JPEG", quality=80),
        "dicom": make_dicom(twelve_bit_ramp(), bits_stored=12, WindowCenter=2048, WindowWidth=4096),
        "dicom_padded": make_dicom(twelve_bit_ramp(), bits_stored=12, PixelPaddingValue=0, RescaleSlope=2),
        "dicom_bare": bare_dicom(),
    }
    for name in ("MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "SC_rgb_jpeg.dcm"):
        seeds[name] = Path(get_testdata_file(name)).read_bytes()
    return seeds


SEEDS = _seeds()
SEED_NAMES = sorted(SEEDS)


def test_every_seed_is_read():
    """Mutations start from files the decoder reads, so they reach deep into each format."""
    for name, data in SEEDS.items():
        assert decode(data) is not None, name


# ---------------------------------------------------------------------------- random and mutated bytes

MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\0" * 128 + b"DICM", b"\x08\x00", b"\x00\x08", b"\x02\x00"]


@budget(1000)
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=4096))
def test_random_bytes_behind_any_magic_are_refused_cleanly(prefix, body):
    decode(prefix + body)


@st.composite
def mutated(draw) -> bytes:
    """A seed with a few bit flips, overwrites, truncations, duplications or splices from another seed."""
    data = bytearray(SEEDS[draw(st.sampled_from(SEED_NAMES))])
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "overwrite", "truncate", "splice", "duplicate", "delete"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(chunk)] = chunk
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            other = SEEDS[draw(st.sampled_from(SEED_NAMES))]
            start = draw(st.integers(0, len(other) - 1))
            data[at:] = other[start : start + draw(st.integers(1, 2048))]
        elif op == "duplicate":
            size = draw(st.integers(1, 256))
            data[at:at] = data[at : at + size]
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@budget(1500)
@given(data=mutated())
def test_mutated_png_jpeg_and_dicom_are_read_or_refused_cleanly(data):
    decode(data)


# Header fields most decoders trust: a mutation that lands in the DICOM header's numbers.
_HEADER_OFFSETS = {name: SEEDS[name].find(b"\x28\x00") for name in SEED_NAMES if "dicom" in name or ".dcm" in name}


@budget(600)
@given(
    name=st.sampled_from(sorted(_HEADER_OFFSETS)), where=st.integers(0, 160), value=st.binary(min_size=1, max_size=4)
)
def test_overwritten_image_module_bytes_are_refused_cleanly(name, where, value):
    data = bytearray(SEEDS[name])
    at = max(_HEADER_OFFSETS[name], 0) + where
    data[at : at + len(value)] = value
    decode(bytes(data))


# ---------------------------------------------------------------------------- hostile DICOM claims

SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless, JPEG2000Lossless,
            JPEGLSLossless, JPEGBaseline8Bit]  # fmt: skip
NATIVE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian}


@st.composite
def hostile_dicom(draw) -> tuple[bytes, int]:
    """A dataset whose image module claims what it likes, with a small real payload; (bytes, claimed pixels)."""
    syntax = draw(st.sampled_from(SYNTAXES))
    rows = draw(st.one_of(st.integers(0, 65535), st.sampled_from([64, 7072, 7071, 65535])))
    cols = draw(st.one_of(st.integers(0, 65535), st.sampled_from([64, 7072, 7071, 65535])))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = draw(st.sampled_from([0, 1, 7, 8, 12, 16, 24, 32, 64, 255]))
    ds.BitsStored = draw(st.sampled_from([0, 1, 8, 12, 16, 17, 32, 255]))
    ds.HighBit = max(int(ds.BitsStored) - 1, 0)
    ds.SamplesPerPixel = draw(st.sampled_from([0, 1, 2, 3, 4, 255]))
    ds.PixelRepresentation = draw(st.sampled_from([0, 1, 2]))
    ds.PhotometricInterpretation = draw(
        st.sampled_from(["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "HSV"])
    )
    if draw(st.booleans()):
        ds.PlanarConfiguration = draw(st.sampled_from([0, 1, 2]))
    frames = draw(st.sampled_from([None, 0, 1, 2, 10**9, -1]))
    if frames is not None:
        ds.NumberOfFrames = frames
    if draw(st.booleans()):
        ds.RescaleSlope = draw(st.sampled_from(["1", "0", "-1", "1e308", "1e-308", "3.5"]))
        ds.RescaleIntercept = draw(st.sampled_from(["0", "-1024", "1e308", "-1e308"]))
    if draw(st.booleans()):
        ds.WindowCenter = draw(st.sampled_from(["40", "0", "-1e308", "1e308"]))
        ds.WindowWidth = draw(st.sampled_from(["400", "0", "-5", "1", "1e308"]))
    if draw(st.booleans()):
        ds.PixelPaddingValue = draw(st.integers(0, 65535))
    payload = draw(st.binary(max_size=2048))
    if syntax in NATIVE:
        ds.PixelData = payload if len(payload) % 2 == 0 else payload + b"\0"
    else:
        ds.PixelData = encapsulate([payload or b"\0\0"])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds.save_as(buf, enforce_file_format=True)
        except (OSError, ValueError, OverflowError):  # pydicom will not write some values at all
            buf = io.BytesIO(make_dicom(twelve_bit_ramp(), bits_stored=12))
            rows = cols = 64
    return buf.getvalue(), rows * cols


class _PixelArrayWatch:
    """Counts reads of pydicom's Dataset.pixel_array (the decode); installed once per module."""

    def __init__(self, monkeypatch):
        original = pydicom.dataset.Dataset.pixel_array
        self.reads = 0

        def watched(ds):
            self.reads += 1
            return original.fget(ds)

        monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(watched))


@pytest.fixture(scope="module")
def watch():
    with pytest.MonkeyPatch.context() as patch:
        yield _PixelArrayWatch(patch)


def _peak_bytes(data: bytes) -> tuple[XRayImage | None, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        image = decode(data)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return image, peak


# Parsing a file of at most a few kB costs well under this; decoding 50 Mpx would cost ≥ 50 MB.
PARSE_BUDGET = 8 * 2**20


@budget(800)
@given(case=hostile_dicom())
def test_hostile_dicom_claims_are_refused_before_allocating(case, watch):
    data, claimed = case
    watch.reads = 0
    image, peak = _peak_bytes(data)
    if claimed > MAX_PIXELS:
        assert image is None
        assert watch.reads == 0, "pixel_array was decoded although the header claims more than the limit"
        assert peak < PARSE_BUDGET, f"{peak / 2**20:.1f} MB traced for a refused {claimed / 1e6:.0f} Mpx claim"
    else:
        # Within the limit a decoder may allocate the claimed frame, but never more than a few copies of it.
        assert peak < PARSE_BUDGET + 64 * max(claimed, 1), f"{peak / 2**20:.1f} MB for {claimed / 1e6:.2f} Mpx"


def test_the_largest_claim_a_header_can_make(watch):
    """Rows and Columns are US: 65535 × 65535 (4295 Mpx) is the most a header claims; refused on the header alone."""
    data = make_dicom(twelve_bit_ramp(), bits_stored=12, Rows=65535, Columns=65535)  # US: 65535 is the most
    watch.reads = 0
    image, peak = _peak_bytes(data)
    assert image is None and watch.reads == 0 and peak < PARSE_BUDGET
    with pytest.raises(ImageRejected, match="megapixels"):
        load_image(data)


@st.composite
def hostile_raster(draw) -> tuple[bytes, int]:
    width, height = draw(st.integers(1, 2**31 - 1)), draw(st.integers(1, 2**31 - 1))
    if draw(st.booleans()):
        depth, colour = draw(st.sampled_from([(8, 0), (16, 0), (8, 2), (16, 6), (1, 0), (8, 3)]))
        return png_header_only(width, height, depth, colour), width * height
    # A baseline JPEG whose SOF0 claims (65535 max a side) and whose scan is a few random bytes.
    width, height = width % 65536 or 1, height % 65536 or 1
    sof = b"\xff\xc0\x00\x0b\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    jpeg = encode(Image.fromarray(_ramp()), "JPEG")
    start = jpeg.find(b"\xff\xc0")
    end = start + 2 + int.from_bytes(jpeg[start + 2 : start + 4], "big")
    return jpeg[:start] + sof + jpeg[end:], width * height


@budget(400)
@given(case=hostile_raster())
def test_hostile_png_and_jpeg_sizes_are_refused_before_allocating(case):
    data, claimed = case
    image, peak = _peak_bytes(data)
    if claimed > MAX_PIXELS:
        assert image is None and peak < PARSE_BUDGET, f"{peak / 2**20:.1f} MB for {claimed / 1e6:.0f} Mpx"
