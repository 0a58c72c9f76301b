"""core.imaging: every upload becomes one 8-bit grayscale radiograph or one specific refusal.

All inputs are built in memory with Pillow / numpy / pydicom, except the real chest CR
files shipped by the pydicom-data package.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    generate_uid,
)

from core.imaging.decode import MAX_FILE_BYTES, MAX_PIXELS, MIN_SIDE, ImageRejected, XRayImage, is_dicom, load_image

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


# ---------------------------------------------------------------------------- helpers


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def ramp(height: int = 96, width: int = 128) -> np.ndarray:
    """uint8 image with distinct rows and columns: a diagonal gradient."""
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 255 // (width - 1) + y * 255 // (height - 1)) // 2).astype(np.uint8)


def noise(height: int = 256, width: int = 256, seed: int = 0) -> np.ndarray:
    """Incompressible content, so truncating the encoded file cuts into image data."""
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)


def png_header_only(width: int, height: int, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A syntactically valid PNG whose IHDR claims width×height; the data is never decoded."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def make_dicom(
    pixels: np.ndarray | None,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    sop_class: str = CR_IMAGE_STORAGE,
    pixel_data: bytes | None = None,
    **elements,
) -> bytes:
    """A complete Part-10 DICOM file holding `pixels` (H, W) or (H, W, 3); extra elements by keyword.

    pixels=None writes a dataset without any image module (e.g. a report).
    pixel_data overrides the stored bytes (encapsulated for compressed transfer syntaxes).
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR" if sop_class == CR_IMAGE_STORAGE else "OT"
    if pixels is not None:
        pixels = np.asarray(pixels)
        ds.Rows, ds.Columns = pixels.shape[:2]
        ds.SamplesPerPixel = 3 if pixels.ndim == 3 else 1
        if pixels.ndim == 3:
            ds.PlanarConfiguration = 0
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = pixels.dtype.itemsize * 8
        ds.BitsStored = bits_stored or ds.BitsAllocated
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 0
        if pixel_data is None:
            ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
        else:
            ds.PixelData = pixel_data
            if transfer_syntax != ExplicitVRLittleEndian:
                ds["PixelData"].VR = "OB"
                ds["PixelData"].is_undefined_length = True
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def twelve_bit_ramp(height: int = 64, width: int = 64) -> np.ndarray:
    """uint16 values 0..4095 in raster order (row-major), every value once."""
    return (np.arange(height * width).reshape(height, width) * 4095 // (height * width - 1)).astype(np.uint16)


def assert_radiograph(result: XRayImage, height: int, width: int, source_format: str) -> None:
    assert isinstance(result, XRayImage)
    assert result.pixels.dtype == np.uint8
    assert result.pixels.ndim == 2
    assert (result.height, result.width) == (height, width) == result.pixels.shape
    assert result.source_format == source_format


def pydicom_data_file(name: str) -> Path:
    """A file of the pydicom-data package, found without pydicom's (downloading) data manager."""
    data_store = pytest.importorskip("data_store", reason="pydicom-data is not installed")
    path = Path(data_store.__file__).resolve().parent / "data" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in this pydicom-data install")
    return path


# ---------------------------------------------------------------------------- PNG / JPEG accepted


def test_grayscale_png_pixels_pass_through_unchanged():
    original = ramp()
    result = load_image(encode(Image.fromarray(original, "L"), "PNG"))
    assert_radiograph(result, 96, 128, "PNG")
    np.testing.assert_array_equal(result.pixels, original)
    assert result.colourfulness == 0.0


def test_rgb_jpeg_of_a_grey_image_comes_back_grey_and_close():
    original = ramp(200, 160)
    rgb = Image.fromarray(np.stack([original] * 3, axis=-1), "RGB")
    result = load_image(encode(rgb, "JPEG", quality=95))
    assert_radiograph(result, 200, 160, "JPEG")
    assert np.abs(result.pixels.astype(int) - original).mean() < 2
    assert result.colourfulness < 3


def test_rgba_png_transparent_pixels_become_black_and_opaque_keep_their_value():
    rgba = np.zeros((80, 100, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 255
    rgba[:, :50, 3] = 0  # left half fully transparent (but white-ish underneath)
    result = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert_radiograph(result, 80, 100, "PNG")
    assert (result.pixels[:, :50] == 0).all()
    assert (result.pixels[:, 50:] == 200).all()


def test_grayscale_with_alpha_png_is_accepted():
    la = np.zeros((70, 70, 2), dtype=np.uint8)
    la[..., 0] = 123
    la[..., 1] = 255
    result = load_image(encode(Image.fromarray(la, "LA"), "PNG"))
    assert_radiograph(result, 70, 70, "PNG")
    assert (result.pixels == 123).all()
    assert result.colourfulness < 1e-6


def test_palette_png_is_mapped_through_its_palette():
    indices = np.zeros((64, 90), dtype=np.uint8)
    indices[:, 30:60] = 1
    indices[:, 60:] = 2
    image = Image.fromarray(indices, "L").convert("P")
    image.putpalette([10, 10, 10, 128, 128, 128, 250, 250, 250] + [0, 0, 0] * 253)
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "P"
    result = load_image(data)
    assert_radiograph(result, 64, 90, "PNG")
    np.testing.assert_array_equal(result.pixels[0, [0, 45, 80]], [10, 128, 250])
    assert result.colourfulness < 1e-6


def test_sixteen_bit_png_full_range_is_stretched_to_0_255_monotonic():
    values = twelve_bit_ramp()  # a 12-bit detector ramp stored in a 16-bit PNG
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    result = load_image(data)
    assert_radiograph(result, 64, 64, "PNG")
    flat = result.pixels.ravel().astype(int)
    assert flat.min() == 0 and flat.max() == 255
    assert (np.diff(flat) >= 0).all(), "the ramp must stay monotonic"
    assert len(np.unique(flat)) == 256
    expected = np.round(values.astype(float) * 255 / 4095)
    assert np.abs(flat - expected.ravel()).max() <= 1


def test_sixteen_bit_png_with_a_narrow_range_still_uses_the_full_scale():
    values = (1000 + twelve_bit_ramp() // 8).astype(np.uint16)  # 1000..1511
    result = load_image(encode(Image.fromarray(values), "PNG"))
    assert result.pixels.min() == 0 and result.pixels.max() == 255


def _exif_jpeg(array: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(array, "L"), "JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize(
    ("orientation", "display"),
    [
        # EXIF 6: stored image must be turned 90° clockwise to view; 8: 90° anticlockwise.
        (6, lambda a: np.rot90(a, k=-1)),
        (8, lambda a: np.rot90(a, k=1)),
        (3, lambda a: np.rot90(a, k=2)),
        (1, lambda a: a),
    ],
)
def test_exif_orientation_is_applied(orientation, display):
    stored = np.full((100, 200), 30, dtype=np.uint8)  # 100 rows × 200 columns as stored
    stored[:25, :25] = 240  # bright block at the stored top-left corner
    expected = display(stored)
    result = load_image(_exif_jpeg(stored, orientation))
    assert_radiograph(result, *expected.shape, "JPEG")
    # the block is where a viewer sees it: compare every 25×25 corner against the expectation
    h, w = expected.shape
    for rows in (slice(0, 25), slice(h - 25, h)):
        for cols in (slice(0, 25), slice(w - 25, w)):
            seen = result.pixels[rows, cols].mean()
            assert abs(seen - expected[rows, cols].mean()) < 10, (orientation, rows, cols, seen)


def test_exif_orientation_6_swaps_a_portrait_to_landscape_with_block_top_right():
    stored = np.full((200, 100), 20, dtype=np.uint8)  # portrait as stored: 200 rows × 100 cols
    stored[:30, :30] = 250
    result = load_image(_exif_jpeg(stored, 6))
    assert (result.height, result.width) == (100, 200)
    assert result.pixels[:30, -30:].mean() > 200  # top-left turned clockwise lands top-right
    assert result.pixels[:30, :30].mean() < 60


def test_two_frame_camera_jpeg_mpo_is_read_as_its_primary_picture():
    primary = Image.fromarray(ramp(120, 160), "L").convert("RGB")
    preview = Image.new("RGB", (160, 120), (255, 0, 0))
    data = encode(primary, "MPO", save_all=True, append_images=[preview], quality=95)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    result = load_image(data)
    assert_radiograph(result, 120, 160, "JPEG")
    assert np.abs(result.pixels.astype(int) - ramp(120, 160)).mean() < 2


def test_one_bit_png_is_accepted():
    bits = np.zeros((64, 64), dtype=bool)
    bits[:, 32:] = True
    result = load_image(encode(Image.fromarray(bits), "PNG"))
    assert_radiograph(result, 64, 64, "PNG")
    assert set(np.unique(result.pixels)) == {0, 255}


def test_smallest_accepted_side_is_min_side():
    result = load_image(encode(Image.new("L", (MIN_SIDE, 1000), 90), "PNG"))
    assert_radiograph(result, 1000, MIN_SIDE, "PNG")


# ---------------------------------------------------------------------------- colourfulness


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_true_greyscale_has_colourfulness_near_zero(fmt):
    grey = np.stack([ramp(128, 128)] * 3, axis=-1)
    result = load_image(encode(Image.fromarray(grey, "RGB"), fmt))
    assert result.colourfulness < 2


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_colourful_photo_like_image_scores_high(fmt):
    y, x = np.mgrid[0:128, 0:160]
    photo = np.zeros((128, 160, 3), dtype=np.uint8)
    photo[..., 0] = (x * 255 // 159).astype(np.uint8)  # red across
    photo[..., 1] = (y * 255 // 127).astype(np.uint8)  # green down
    photo[..., 2] = np.where((x // 20 + y // 20) % 2 == 0, 230, 30)  # blue checker
    result = load_image(encode(Image.fromarray(photo, "RGB"), fmt, **({"quality": 95} if fmt == "JPEG" else {})))
    assert result.colourfulness > 20


def test_uniformly_tinted_image_is_not_greyscale():
    sepia = np.zeros((80, 80, 3), dtype=np.uint8)
    sepia[...] = (180, 120, 60)
    assert load_image(encode(Image.fromarray(sepia, "RGB"), "PNG")).colourfulness > 20


# ---------------------------------------------------------------------------- DICOM accepted

WINDOWED = {"WindowCenter": 2048, "WindowWidth": 1024}


def test_monochrome2_dicom_without_window_is_stretched_to_full_range():
    values = twelve_bit_ramp()
    result = load_image(make_dicom(values, bits_stored=12))
    assert_radiograph(result, 64, 64, "DICOM")
    assert result.colourfulness == 0.0
    flat = result.pixels.ravel().astype(int)
    assert flat[0] == 0 and flat[-1] == 255 and (np.diff(flat) >= 0).all()


def test_monochrome1_is_inverted_relative_to_monochrome2():
    values = twelve_bit_ramp()
    mono2 = load_image(make_dicom(values, bits_stored=12, **WINDOWED)).pixels
    mono1 = load_image(make_dicom(values, bits_stored=12, photometric="MONOCHROME1", **WINDOWED)).pixels
    np.testing.assert_array_equal(mono1.astype(int), 255 - mono2.astype(int))
    # MONOCHROME1 stores dense tissue as low values: the lowest stored value must show brightest
    assert mono1.ravel()[0] == 255 and mono1.ravel()[-1] == 0
    assert mono2.ravel()[0] == 0 and mono2.ravel()[-1] == 255


def test_voi_window_clips_outside_values_and_maps_centre_to_mid_grey():
    values = twelve_bit_ramp()
    out = load_image(make_dicom(values, bits_stored=12, **WINDOWED)).pixels.astype(int)
    below, above = values < 1536 - 1, values > 2560 + 1  # window 2048 ± 512
    assert below.any() and above.any()
    assert (out[below] == 0).all()
    assert (out[above] == 255).all()
    inside = ~below & ~above
    assert len(np.unique(out[inside])) > 200, "the window is stretched over the whole grey scale"
    centre = np.abs(values.astype(int) - 2048).argmin()
    assert abs(out.ravel()[centre] - 128) <= 2


def test_voi_window_is_not_re_stretched_when_the_data_stays_inside_it():
    values = (1800 + twelve_bit_ramp() // 8).astype(np.uint16)  # 1800..2311, all inside 1536..2560
    out = load_image(make_dicom(values, bits_stored=12, **WINDOWED)).pixels.astype(int)
    expected = np.clip(((values - (2048 - 0.5)) / 1023 + 0.5) * 255, 0, 255)
    assert np.abs(out - expected).max() <= 1
    assert 60 < out.min() and out.max() < 200


def test_rescale_slope_intercept_are_applied_before_the_window():
    hu = np.linspace(-1000, 1000, 64 * 64).reshape(64, 64)
    stored = np.round(hu + 1024).astype(np.uint16)
    out = load_image(
        make_dicom(stored, bits_stored=12, RescaleSlope=1, RescaleIntercept=-1024, WindowCenter=40, WindowWidth=400)
    ).pixels.astype(int)
    assert (out[hu < -161] == 0).all() and (out[hu > 241] == 255).all()
    at_centre = np.abs(hu - 40).argmin()
    assert abs(out.ravel()[at_centre] - 128) <= 3


def test_voi_lut_sequence_is_applied_and_preferred_over_the_window():
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.add_new(0x00283006, "US", list(range(4095, -1, -1)))  # LUTData: an inverting LUT
    data = make_dicom(twelve_bit_ramp(), bits_stored=12, VOILUTSequence=[item], **WINDOWED)
    out = load_image(data).pixels.astype(int)
    expected = np.round((4095 - twelve_bit_ramp().astype(float)) * 255 / 4095)
    assert np.abs(out - expected).max() <= 1


def test_a_malformed_window_falls_back_to_the_data_range():
    out = load_image(make_dicom(twelve_bit_ramp(), bits_stored=12, WindowCenter=2048, WindowWidth=0)).pixels
    assert out.min() == 0 and out.max() == 255


def test_rgb_dicom_is_accepted_with_its_colourfulness():
    photo = np.zeros((80, 96, 3), dtype=np.uint8)
    photo[..., 0] = 220
    photo[:, 48:, 2] = 220
    result = load_image(make_dicom(photo, photometric="RGB", sop_class=SECONDARY_CAPTURE))
    assert_radiograph(result, 80, 96, "DICOM")
    assert result.colourfulness > 20
    expected = np.asarray(Image.fromarray(photo, "RGB").convert("L"))
    np.testing.assert_array_equal(result.pixels, expected)


def test_grey_rgb_dicom_has_zero_colourfulness():
    grey = np.stack([ramp()] * 3, axis=-1)
    result = load_image(make_dicom(grey, photometric="RGB", sop_class=SECONDARY_CAPTURE))
    assert result.colourfulness < 1e-6
    np.testing.assert_array_equal(result.pixels, ramp())


def test_ybr_dicom_is_not_colour_converted_twice():
    """pydicom already returns YBR_FULL as RGB: the same picture stored as RGB must match."""
    rgb = load_image(pydicom_data_file("SC_rgb.dcm").read_bytes())
    ybr = load_image(pydicom_data_file("SC_ybr_full_uncompressed.dcm").read_bytes())
    assert pydicom.dcmread(pydicom_data_file("SC_ybr_full_uncompressed.dcm")).PhotometricInterpretation == "YBR_FULL"
    assert np.abs(rgb.pixels.astype(int) - ybr.pixels).max() <= 3
    assert abs(rgb.colourfulness - ybr.colourfulness) < 3


@pytest.fixture(scope="module")
def real_chest_cr() -> dict[str, tuple[bytes, XRayImage]]:
    """pydicom-data's Philips chest CR (RG1), MONOCHROME1, 15-bit, windowed: decoded once."""
    out = {}
    for name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm", "RG1_UNCI.dcm"):
        raw = pydicom_data_file(name).read_bytes()
        out[name] = (raw, load_image(raw))
    return out


@pytest.mark.parametrize("name", ["RG1_UNCR.dcm", "RG1_J2KR.dcm", "RG1_UNCI.dcm"])
def test_real_chest_cr_decodes_to_an_8_bit_frame(real_chest_cr, name):
    raw, result = real_chest_cr[name]
    assert is_dicom(raw)
    assert pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True).PhotometricInterpretation == "MONOCHROME1"
    assert_radiograph(result, 1955, 1841, "DICOM")
    assert result.pixels.std() > 20, "a real radiograph has contrast"
    assert result.pixels.flags.writeable and result.pixels.flags.c_contiguous


def test_real_chest_cr_lossless_j2k_matches_uncompressed_exactly(real_chest_cr):
    # RG1_J2KR is the lossless JPEG 2000 of RG1_UNCR. (RG1_UNCI is the decompressed *lossy* J2KI.)
    np.testing.assert_array_equal(real_chest_cr["RG1_J2KR.dcm"][1].pixels, real_chest_cr["RG1_UNCR.dcm"][1].pixels)


def test_real_chest_cr_lossy_version_is_close_but_not_identical(real_chest_cr):
    lossless = real_chest_cr["RG1_UNCR.dcm"][1].pixels.astype(int)
    lossy = real_chest_cr["RG1_UNCI.dcm"][1].pixels.astype(int)
    assert np.abs(lossless - lossy).mean() < 1.5


def test_real_chest_cr_is_shown_dense_bright(real_chest_cr):
    """MONOCHROME1 → inverted: the raw stored values and the display are anticorrelated."""
    raw, result = real_chest_cr["RG1_UNCR.dcm"]
    stored = pydicom.dcmread(io.BytesIO(raw)).pixel_array[::8, ::8].astype(float)
    shown = result.pixels[::8, ::8].astype(float)
    assert np.corrcoef(stored.ravel(), shown.ravel())[0, 1] < -0.99


# ---------------------------------------------------------------------------- privacy

IDENTIFIERS = {
    "PatientName": "Doe^Jane^Quincy",
    "PatientID": "PID-7731-XQ",
    "PatientBirthDate": "19710203",
    "InstitutionName": "St Elsewhere General Hospital",
}


def _assert_carries_no_identifiers(result: XRayImage, identifiers) -> None:
    assert [f.name for f in dataclasses.fields(result)] == ["pixels", "source_format", "colourfulness"]
    assert set(vars(result)) == {"pixels", "source_format", "colourfulness"}
    text = repr(result) + str(result.source_format) + str(result.colourfulness)
    blob = pickle.dumps(result)
    for value in identifiers:
        assert value not in text
        assert value.encode() not in blob
    # the array does not keep a reference to any buffer read from the file
    base = result.pixels
    while base is not None:
        assert not isinstance(base, (bytes, bytearray, memoryview)) or all(
            v.encode() not in bytes(base) for v in identifiers
        )
        base = getattr(base, "base", None)


def test_dicom_identifiers_never_leave_the_decoder():
    data = make_dicom(twelve_bit_ramp(), bits_stored=12, **IDENTIFIERS, **WINDOWED)
    assert all(v.encode() in data for v in IDENTIFIERS.values())  # they really are in the file
    result = load_image(data)
    _assert_carries_no_identifiers(result, IDENTIFIERS.values())
    assert result.pixels.base is None, "pixels must own their memory"


def test_real_dicom_identifiers_never_leave_the_decoder(real_chest_cr):
    raw, result = real_chest_cr["RG1_UNCR.dcm"]
    ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
    values = [str(ds.PatientName), ds.PatientID, ds.InstitutionName]
    assert all(v.encode() in raw for v in values)
    _assert_carries_no_identifiers(result, values)


def test_jpeg_exif_text_never_leaves_the_decoder():
    exif = Image.Exif()
    exif[0x013B] = "Dr Hibbert"  # Artist
    exif[0x010E] = "Jane Doe chest PA"  # ImageDescription
    data = encode(Image.fromarray(ramp(), "L"), "JPEG", exif=exif.tobytes())
    assert b"Dr Hibbert" in data
    _assert_carries_no_identifiers(load_image(data), ["Dr Hibbert", "Jane Doe chest PA"])


# ---------------------------------------------------------------------------- refusals


def _valid_png() -> bytes:
    return encode(Image.fromarray(noise(), "L"), "PNG")


def _valid_jpeg() -> bytes:
    return encode(Image.fromarray(noise(), "L"), "JPEG", quality=95)


def _apng() -> bytes:
    frames = [Image.new("L", (80, 80), v) for v in (0, 255)]
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:])


def _real_big_png() -> bytes:
    return encode(Image.new("1", (8000, 8000), 0), "PNG")  # 64 Mpx, a few kB once compressed


def _sr_dicom() -> bytes:
    return make_dicom(None, sop_class=BASIC_TEXT_SR, ValueType="CONTAINER", **IDENTIFIERS)


def _multiframe_dicom() -> bytes:
    two = np.stack([twelve_bit_ramp(), twelve_bit_ramp()])
    return make_dicom(twelve_bit_ramp(), bits_stored=12, NumberOfFrames=2, pixel_data=two.tobytes())


def _garbage_j2k_dicom() -> bytes:
    garbage = np.random.default_rng(1).bytes(2000)
    return make_dicom(
        twelve_bit_ramp(), bits_stored=12, transfer_syntax=JPEG2000Lossless, pixel_data=encapsulate([garbage])
    )


def _garbage_jpeg_dicom() -> bytes:
    garbage = b"\xff\xd8" + np.random.default_rng(2).bytes(2000)
    photo = np.zeros((64, 64, 3), dtype=np.uint8)
    return make_dicom(
        photo, photometric="YBR_FULL_422", transfer_syntax=JPEGBaseline8Bit, pixel_data=encapsulate([garbage])
    )


def _small_dicom() -> bytes:
    return make_dicom(np.zeros((32, 200), dtype=np.uint16), bits_stored=12)


def _big_dicom_header() -> bytes:
    """Claims 8000×8000 but carries a tiny PixelData: refused on size before any decoding."""
    return make_dicom(np.zeros((64, 64), dtype=np.uint16), Rows=8000, Columns=8000)


def _valid_dicom() -> bytes:
    return make_dicom(noise(128, 128).astype(np.uint16) * 16, bits_stored=12)


REFUSALS = {
    "empty": (lambda: b"", "The file is empty"),
    "over 30 MB": (lambda: b"\0" * (MAX_FILE_BYTES + 1), "the limit is 30 MB"),
    "over 30 MB valid PNG prefix": (lambda: _valid_png() + b"\0" * MAX_FILE_BYTES, "the limit is 30 MB"),
    "truncated PNG": (lambda: _valid_png()[: len(_valid_png()) // 2], "PNG file is truncated or corrupt"),
    "truncated JPEG": (lambda: _valid_jpeg()[: len(_valid_jpeg()) * 2 // 3], "JPEG file is truncated or corrupt"),
    "PNG cut inside its header": (lambda: _valid_png()[:20], "Not an image this tool reads"),
    "random bytes": (lambda: np.random.default_rng(0).bytes(5000), "Not an image this tool reads"),
    "text file": (lambda: b"Patient: Jane Doe\nFindings: clear lungs.\n" * 20, "Not an image this tool reads"),
    "PDF": (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" * 5, "Not an image"),
    "GIF": (lambda: encode(Image.fromarray(ramp(), "L"), "GIF"), "GIF files are not accepted"),
    "BMP": (lambda: encode(Image.fromarray(ramp(), "L"), "BMP"), "BMP files are not accepted"),
    "TIFF": (lambda: encode(Image.fromarray(ramp(), "L"), "TIFF"), "TIFF files are not accepted"),
    "WEBP": (lambda: encode(Image.fromarray(ramp(), "L").convert("RGB"), "WEBP"), "WEBP files are not accepted"),
    "animated PNG": (_apng, "multi-frame images are not accepted"),
    "narrow PNG": (lambda: encode(Image.new("L", (MIN_SIDE - 1, 500)), "PNG"), f"at least {MIN_SIDE} px a side"),
    "short JPEG": (lambda: encode(Image.new("L", (500, 10)), "JPEG"), f"at least {MIN_SIDE} px a side"),
    "8000x8000 PNG header": (lambda: png_header_only(8000, 8000), "limit is 50 megapixels"),
    "real 8000x8000 PNG": (_real_big_png, "limit is 50 megapixels"),
    "decompression bomb header": (lambda: png_header_only(30000, 30000), "limit of 50 megapixels"),
    "multi-frame DICOM": (_multiframe_dicom, "Multi-frame DICOM"),
    "DICOM report without pixels": (_sr_dicom, "holds no image (no pixel data)"),
    "DICOM cut after the preamble": (lambda: _valid_dicom()[:140], "DICOM file is truncated or corrupt"),
    "DICOM cut in its header": (lambda: _valid_dicom()[:300], "DICOM file is truncated or corrupt"),
    "DICOM cut in the pixel data": (lambda: _valid_dicom()[:-5000], "DICOM file is truncated or corrupt"),
    "DICOM with garbage JPEG 2000": (
        _garbage_j2k_dicom,
        "JPEG 2000 Image Compression (Lossless Only)) cannot be decoded",
    ),
    "DICOM with garbage JPEG": (_garbage_jpeg_dicom, "cannot be decoded"),
    "tiny DICOM": (_small_dicom, f"at least {MIN_SIDE} px a side"),
    "8000x8000 DICOM header": (_big_dicom_header, "limit is 50 megapixels"),
}


@pytest.mark.parametrize(("make", "fragment"), list(REFUSALS.values()), ids=list(REFUSALS))
def test_refusals_give_a_specific_reason(make, fragment):
    with pytest.raises(ImageRejected) as excinfo:
        load_image(make())
    assert fragment.lower() in str(excinfo.value).lower(), str(excinfo.value)


def test_image_rejected_is_a_value_error():
    assert issubclass(ImageRejected, ValueError)


def test_limits_are_the_documented_ones():
    assert MAX_FILE_BYTES == 30 * 2**20
    assert MAX_PIXELS == 50_000_000
    assert MIN_SIDE == 64


def test_size_is_checked_before_the_file_is_decoded():
    """The 8000×8000 header carries almost no data: refusing it proves no decode was attempted."""
    data = png_header_only(8000, 8000)
    assert len(data) < 100
    with pytest.raises(ImageRejected, match="64 megapixels"):
        load_image(data)


def test_exactly_max_file_bytes_is_not_refused_for_size():
    data = b"\0" * MAX_FILE_BYTES
    with pytest.raises(ImageRejected) as excinfo:
        load_image(data)
    assert "limit is 30 MB" not in str(excinfo.value)


def test_pixel_limit_boundary():
    width = 10_000
    at_limit = png_header_only(width, MAX_PIXELS // width)  # exactly 50 Mpx: size accepted…
    with pytest.raises(ImageRejected) as excinfo:
        load_image(at_limit)
    assert "megapixels" not in str(excinfo.value)  # …then refused for its (absent) data instead
    with pytest.raises(ImageRejected, match="megapixels"):
        load_image(png_header_only(width, MAX_PIXELS // width + 1))


def test_is_dicom_looks_for_the_part10_marker():
    assert is_dicom(_valid_dicom())
    assert not is_dicom(_valid_png())
    assert not is_dicom(b"DICM")
    assert not is_dicom(b"\0" * 128 + b"DICX")
    assert is_dicom(b"\0" * 128 + b"DICM")
