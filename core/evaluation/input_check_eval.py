"""`python -m core guard-eval`: both stages of the input check on images nobody trained on.

Stage 1 (is it a frontal chest X-ray at all?) should refuse every non-chest image and pass
every frontal chest film; stage 2 (is it like the training films?) may warn on chest films
from elsewhere, which are still analysed.

Sources, none of them seen by training or by the guard's fit:
- in distribution: kermany224/test (held out) and the validation split of kermany224/train
  (its 99th percentile set the limit, so ≈1 % by construction — shown as a sanity check);
- photos and textures shipped with scikit-image (`skimage.data`, files in the wheel);
- documents and screenshots drawn here with Pillow (deterministic);
- other modalities and body parts: DICOM test images shipped in pydicom and pydicom-data
  (CT, MR, ultrasound, nuclear medicine, an extremity radiograph), read from the installed
  packages — never through pydicom's download helpers;
- an adult chest CR (pydicom-data RG1) reported on its own: it *is* a frontal chest X-ray,
  from another population, so passing is right and a refusal shows domain shift;
- kermany test films re-processed as another site might have (letterboxed to a portrait
  frame, equalised, edge-enhanced, darker/lighter, zoomed out with collimation): a stand-in for
  chest films from other sources, of which only one real one ships in a package;
- kermany test images turned 90° or inverted: informational.
No lateral chest film ships in any package this machine can install, so laterals are not measured.
Every image goes through core.imaging.decode.load_image like an upload; ones the decoder itself
refuses (multi-frame, too small) are not listed — the guard never sees them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.i18n import N_
from core.imaging.decode import ImageRejected, XRayImage, load_image

SKIMAGE_PHOTOS = (
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "coins",
    "moon",
    "rocket",
    "horse",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "cell",
    "clock",
    "stereo_motorcycle",
    "brick",
    "grass",
    "gravel",
    "checkerboard",
    "logo",
    "colorwheel",
    "microaneurysms",
)
SKIMAGE_DOCUMENTS = ("text", "page")
# (file, what it is); one image per distinct picture, not every compression of it.
OTHER_MODALITIES = (
    ("RG3_UNCR.dcm", "CR radiograph, extremity"),
    ("693_UNCR.dcm", "CT slice"),
    ("CT_small.dcm", "CT slice (small)"),
    ("bad_sequence.dcm", "CT slice, neck"),
    ("explicit_VR-UN.dcm", "CT slice, pancreas"),
    ("J2K_pixelrep_mismatch.dcm", "CT slice, head"),
    ("MR2_UNCR.dcm", "MR slice"),
    ("MR_small.dcm", "MR slice (small)"),
    ("MR-SIEMENS-DICOM-WithOverlays.dcm", "MR slice, abdomen"),
    ("examples_overlay.dcm", "MR slice with overlay"),
    ("JPEG2000.dcm", "nuclear medicine, whole body"),
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", "ultrasound, greyscale"),
    ("US1_UNCR.dcm", "ultrasound, colour"),
    ("OBXXXX1A.dcm", "ultrasound, palette colour"),
    ("gdcm-US-ALOKA-16.dcm", "ultrasound, palette colour"),
    ("examples_rgb_color.dcm", "ultrasound, colour"),
    ("liver_1frame.dcm", "segmentation mask"),
    ("image_dfl.dcm", "secondary capture, greyscale"),
    ("mlut_18.dcm", "secondary capture with modality LUT"),
)
OTHER_CHEST = (("RG1_UNCR.dcm", "adult chest CR, MONOCHROME1"),)

# The categories' names are stored in classifier.json; N_-marked, the Model Card shows them translated.
IN_DIST_TEST = N_("chest X-ray: kermany224/test (held out)")
IN_DIST_VAL = N_("chest X-ray: kermany224/train validation split")
PHOTOS = N_("photos and textures (scikit-image)")
DOCUMENTS = N_("documents and screenshots")
MODALITIES = N_("other modalities and body parts (DICOM)")
OTHER_CHEST_X = N_("adult chest CR from elsewhere (should be analysed; stage 2 may warn)")
SIMULATED_SITES = N_("kermany test re-processed as at other sites (should be analysed; stage 2 may warn)")
TRANSFORMED = N_("kermany test turned 90° or inverted (informational)")
CHEST_CATEGORIES = (IN_DIST_TEST, IN_DIST_VAL, OTHER_CHEST_X, SIMULATED_SITES)
NON_CHEST_CATEGORIES = (PHOTOS, DOCUMENTS, MODALITIES)


@dataclass
class Item:
    category: str
    name: str
    image: XRayImage


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _dicom_dirs() -> list[Path]:
    import pydicom

    dirs = [Path(pydicom.__file__).parent / "data" / "test_files"]
    try:
        import data_store  # pydicom-data; its files ship inside the wheel

        dirs.insert(0, Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    return dirs


def _dicom_items(table, category: str) -> list[Item]:
    items = []
    for name, what in table:
        path = next((d / name for d in _dicom_dirs() if (d / name).is_file()), None)
        if path is None:
            continue
        try:
            items.append(Item(category, f"{name} ({what})", load_image(path.read_bytes())))
        except ImageRejected:
            continue
    return items


def skimage_items() -> list[Item]:
    try:
        from skimage import data as skdata
    except ImportError:
        return []
    items = []
    for category, names in ((PHOTOS, SKIMAGE_PHOTOS), (DOCUMENTS, SKIMAGE_DOCUMENTS)):
        for name in names:
            loader = getattr(skdata, name, None)
            if loader is None:
                continue
            try:
                array = loader()
            except Exception:  # images that pooch would have to download are simply skipped
                continue
            if isinstance(array, tuple):  # stereo pairs, etc.
                array = array[0]
            array = np.asarray(array)
            if array.dtype == bool:
                array = array.astype(np.uint8) * 255
            elif array.dtype != np.uint8:
                array = np.clip(array * (255 if array.max() <= 1 else 1), 0, 255).astype(np.uint8)
            if array.ndim == 3 and array.shape[-1] == 4:
                array = array[..., :3]
            try:
                items.append(Item(category, f"skimage.data.{name}", load_image(_png(array))))
            except ImageRejected:
                continue
    return items


def rendered_items() -> list[Item]:
    """Documents and UI screenshots drawn with Pillow: light, dark, grey and colour."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(7)
    words = (
        "patient report chest radiograph findings impression the lungs are clear no focal "
        "consolidation heart size normal follow up recommended table figure results method"
    ).split()

    def sentence(n: int) -> str:
        return " ".join(rng.choice(words, n))

    items = []
    for i, (w, h, size, bg, fg) in enumerate(
        [
            (850, 1100, 14, 255, 0),
            (850, 1100, 22, 250, 20),
            (1100, 850, 12, 255, 40),
            (600, 800, 18, 235, 10),
            (850, 1100, 10, 255, 0),
            (1000, 700, 28, 255, 0),
        ]
    ):
        page = Image.new("L", (w, h), bg)
        draw = ImageDraw.Draw(page)
        font, title = ImageFont.load_default(size=size), ImageFont.load_default(size=size * 2)
        draw.text((60, 40), sentence(3).title(), fill=fg, font=title)
        y = 60 + size * 3
        while y < h - 80:
            if rng.random() < 0.12:  # a table
                for r in range(4):
                    for c in range(4):
                        draw.rectangle(
                            (
                                60 + c * (w - 120) // 4,
                                y + r * size * 2,
                                60 + (c + 1) * (w - 120) // 4,
                                y + (r + 1) * size * 2,
                            ),
                            outline=fg,
                        )
                y += size * 9
            else:
                draw.text((60, y), sentence(max(3, (w - 120) // (size * 4))), fill=fg, font=font)
                y += int(size * 1.6)
        items.append(Item(DOCUMENTS, f"rendered document {i + 1}", load_image(_png(np.asarray(page)))))

    for i, (dark, colour) in enumerate(
        [(False, False), (True, False), (False, True), (True, True), (True, False), (False, False)]
    ):
        shot = Image.new("RGB", (1280, 800), (30, 30, 30) if dark else (245, 245, 245))
        draw = ImageDraw.Draw(shot)
        font = ImageFont.load_default(size=15)
        text = (220, 220, 220) if dark else (20, 20, 20)
        accent = (40, 110, 220) if colour else ((90, 90, 90) if dark else (200, 200, 200))
        draw.rectangle((0, 0, 1280, 36), fill=accent)
        draw.rectangle((0, 36, 240, 800), fill=(45, 45, 45) if dark else (228, 228, 228))
        for k in range(14):
            draw.text((16, 56 + k * 40), sentence(2), fill=text, font=font)
        if i in (4,):  # a terminal / code editor
            for k in range(40):
                draw.text(
                    (260, 50 + k * 18),
                    "    " * int(rng.integers(0, 4)) + sentence(int(rng.integers(2, 8))),
                    fill=text,
                    font=font,
                )
        else:
            for k in range(6):
                x0, y0 = 270 + (k % 3) * 330, 70 + (k // 3) * 330
                draw.rectangle(
                    (x0, y0, x0 + 300, y0 + 300), outline=text, fill=(55, 55, 55) if dark else (255, 255, 255)
                )
                draw.text((x0 + 14, y0 + 14), sentence(3), fill=text, font=font)
                draw.rounded_rectangle((x0 + 14, y0 + 250, x0 + 120, y0 + 285), 8, fill=accent)
        items.append(
            Item(
                DOCUMENTS,
                f"rendered screenshot {i + 1} ({'dark' if dark else 'light'}{', colour' if colour else ''})",
                load_image(_png(np.asarray(shot))),
            )
        )
    return items


def _letterbox(gray: np.ndarray) -> tuple[str, np.ndarray]:
    """A portrait 4:5 frame with black bars, as a PA film exported with its detector border."""
    h, w = gray.shape
    out = np.zeros((int(h * 1.25), w), np.uint8)
    top = (out.shape[0] - h) // 2
    out[top : top + h] = gray
    return "letterboxed to portrait", out


def _equalised(gray: np.ndarray) -> tuple[str, np.ndarray]:
    import cv2

    return "CLAHE-equalised", cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(gray)


def _edge_enhanced(gray: np.ndarray) -> tuple[str, np.ndarray]:
    import cv2

    blur = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 3)
    return "edge-enhanced", np.clip(gray + 1.2 * (gray - blur), 0, 255).astype(np.uint8)


def _darker(gray: np.ndarray) -> tuple[str, np.ndarray]:
    return "darker (gamma 1.6)", (255 * (gray / 255.0) ** 1.6).astype(np.uint8)


def _lighter(gray: np.ndarray) -> tuple[str, np.ndarray]:
    return "lighter, lower contrast", (60 + 0.7 * gray).astype(np.uint8)


def _zoomed_out(gray: np.ndarray) -> tuple[str, np.ndarray]:
    """The chest smaller in the frame, inside a bright collimation border."""
    import cv2

    h, w = gray.shape
    out = np.full((h, w), 200, np.uint8)
    small = cv2.resize(gray, (int(w * 0.8), int(h * 0.8)), interpolation=cv2.INTER_AREA)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return "zoomed out in a collimated frame", out


SITE_STYLES = (_letterbox, _equalised, _edge_enhanced, _darker, _lighter, _zoomed_out)


def kermany_items(limit: int | None = None) -> list[Item]:
    from core.training import dataset

    items = []
    samples = dataset.list_labelled(dataset.KERMANY / "test")
    if limit:
        samples = samples[:: max(1, len(samples) // limit)][:limit]
    for s in samples:
        image = load_image(s.path.read_bytes())
        items.append(Item(IN_DIST_TEST, s.path.name, image))
    for k, s in enumerate(samples[:: max(1, len(samples) // 24)][:24]):
        image = load_image(s.path.read_bytes())
        name, pixels = SITE_STYLES[k % len(SITE_STYLES)](image.pixels)
        items.append(Item(SIMULATED_SITES, f"{s.path.name} {name}", XRayImage(pixels, "JPEG", 0.0)))
    for s in samples[:: max(1, len(samples) // 12)][:12]:
        image = load_image(s.path.read_bytes())
        items.append(
            Item(
                TRANSFORMED,
                f"{s.path.name} turned 90°",
                XRayImage(np.ascontiguousarray(np.rot90(image.pixels)), "JPEG", 0.0),
            )
        )
        items.append(Item(TRANSFORMED, f"{s.path.name} inverted", XRayImage(255 - image.pixels, "JPEG", 0.0)))
    return items


def validation_items(meta: dict, limit: int | None = None) -> list[Item]:
    from core.training import dataset
    from core.training.train_classifier import TrainConfig

    training = meta.get("training", {})
    samples = dataset.list_labelled(dataset.KERMANY / "train")
    if not samples:
        return []
    _, val = dataset.patient_split(
        samples, training.get("val_fraction", TrainConfig.val_fraction), training.get("seed", TrainConfig.seed)
    )
    if limit:
        val = val[:: max(1, len(val) // limit)][:limit]
    return [Item(IN_DIST_VAL, s.path.name, load_image(s.path.read_bytes())) for s in val]


def collect(meta: dict, limit: int | None = None) -> list[Item]:
    return (
        kermany_items(limit)
        + validation_items(meta, limit)
        + skimage_items()
        + rendered_items()
        + _dicom_items(OTHER_MODALITIES, MODALITIES)
        + _dicom_items(OTHER_CHEST, OTHER_CHEST_X)
    )


def evaluate_guard(service, items: list[Item], batch_size: int = 16) -> dict:
    """Per category: refused at stage 1 (and why), warned at stage 2, analysed without a warning."""
    import torch

    from core.analysis import check_input
    from core.imaging.preprocess import INPUT_SIZE, resize_gray, to_model_input

    guard = service.guard
    rows = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        grays = np.stack([resize_gray(it.image.pixels, INPUT_SIZE) for it in chunk])
        features = service.forward(torch.cat([to_model_input(g) for g in grays])).features
        verdicts, _ = check_input(service, grays, features, [it.image.colourfulness for it in chunk])
        for it, v in zip(chunk, verdicts):
            # Callers require a fitted guard, which exists only for trained weights: every image
            # gets a full verdict with a stage-2 distance.
            assert v is not None and v.distance is not None
            rows.append(
                {
                    "category": it.category,
                    "name": it.name,
                    "refused": v.flagged,
                    "warned": v.unlike_training,
                    "why": (v.frontal or {}).get("code")
                    if v.flagged and v.frontal
                    else (
                        "colour"
                        if v.flagged and it.image.colourfulness > guard.colour_limit
                        else "distance"
                        if v.flagged
                        else None
                    ),
                    "distance": round(float(v.distance), 2),
                    "colourfulness": round(it.image.colourfulness, 1),
                    "lung_confidence": (v.frontal or {}).get("signals", {}).get("confidence"),
                }
            )
    report = {
        "model_version": service.version,
        "threshold": round(guard.threshold, 3),
        "percentile": guard.percentile,
        "colour_limit": guard.colour_limit,
        "stage1": "lung fields (core.frontal_check)"
        if service.segmenter is not None
        else "unavailable (no lung segmenter): colour and feature distance refuse",
        "categories": {},
    }
    for category in dict.fromkeys(r["category"] for r in rows):
        mine = [r for r in rows if r["category"] == category]
        refused, warned = sum(r["refused"] for r in mine), sum(r["warned"] for r in mine)
        why: dict[str, int] = {}
        for r in mine:
            if r["why"]:
                why[r["why"]] = why.get(r["why"], 0) + 1
        entry = {
            "n": len(mine),
            "refused_stage1": refused,
            "refused_rate": round(refused / len(mine), 4),
            "warned_stage2": warned,
            "analysed": len(mine) - refused,
            "analysed_rate": round((len(mine) - refused) / len(mine), 4),
            "analysed_without_warning": len(mine) - refused - warned,
            "refused_because": why,
            "median_distance": round(float(np.median([r["distance"] for r in mine])), 2),
            "expected": (
                "analysed"
                if category in CHEST_CATEGORIES
                else "refused"
                if category in NON_CHEST_CATEGORIES
                else "either"
            ),
        }
        if category not in (IN_DIST_TEST, IN_DIST_VAL):
            entry["items"] = [
                {k: r[k] for k in ("name", "refused", "warned", "why", "distance", "colourfulness", "lung_confidence")}
                for r in mine
            ]
        report["categories"][category] = entry
    non_chest = [r for r in rows if r["category"] in NON_CHEST_CATEGORIES]
    chest_elsewhere = [r for r in rows if r["category"] in (OTHER_CHEST_X, SIMULATED_SITES)]
    report["summary"] = {
        "non_chest_refused_at_stage1": round(float(np.mean([r["refused"] for r in non_chest])), 4)
        if non_chest
        else None,
        "chest_from_elsewhere_analysed": (
            round(float(np.mean([not r["refused"] for r in chest_elsewhere])), 4) if chest_elsewhere else None
        ),
        "lateral_chest": "not measured: no lateral chest film ships in an installable package",
    }
    return report


def write_summary(weights_dir: Path, report: dict) -> dict:
    """Per-category figures (no per-image lists) into classifier.json["input_check_eval"], for the Model Card."""
    import json

    from core.models.weights import META_FILE

    keep = ("n", "expected", "refused_stage1", "refused_rate", "warned_stage2", "analysed_rate", "refused_because")
    summary = {
        "model_version": report["model_version"],
        "stage1": report["stage1"],
        "summary": report["summary"],
        "categories": {c: {k: v[k] for k in keep} for c, v in report["categories"].items()},
    }
    path = Path(weights_dir) / META_FILE
    meta = json.loads(path.read_text())
    meta["input_check_eval"] = summary
    path.write_text(json.dumps(meta, indent=2))
    return summary
