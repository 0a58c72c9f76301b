"""Where the model looks versus where the lungs are: explanation metrics, probes and shortcut flags.

Everything is measured on the 224-px model-input grid: the lung mask (core.models.lungs), burned-in
markers (core.markers) and the Grad-CAM upsampled to 224. Per case:
- shares of CAM mass in the lungs, the border frame, on markers, between the lungs
  (mediastinum/heart) and below the lowest lung row (diaphragm/abdomen); where the peak is;
- faithfulness: deletion and insertion curves (Petsiuk et al., RISE, BMVC 2018) — hide or reveal
  the most-attended pixels against a blurred copy and watch P(class the CAM explains);
- counterfactual probes: markers inpainted away, and everything outside the lungs blanked;
  the change in P(pneumonia) shows what the prediction leans on.
Flags compare these with thresholds fitted on the classifier's validation split
(`python -m core limits-fit`, stored in weights/limits.json).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from core.explain.gradcam import upsample
from core.explain.markers import detect_markers, erase_markers, marker_mask
from core.imaging.preprocess import INPUT_SIZE, PIXEL_MEAN, normalize, resize_gray
from core.models.lungs import clean_mask
from core.vocabulary import LIMIT_FLAGS

LIMITS_VERSION = "2"  # 2: one deletion/insertion step instead of three
THRESHOLDS_FILE = "limits.json"
FLAG_TITLES = {
    "heatmap_on_marker": "Heatmap on marker",
    "heatmap_on_border": "Heatmap on border / collimation edge",
    "heatmap_outside_lungs": "Heatmap outside the lungs",
    "marker_dependent": "Marker-dependent (counterfactual)",
}
REGIONS = ("marker", "lung", "mediastinum", "below_diaphragm", "border", "outside")
BORDER_FRACTION = 0.10  # the outer 10 % on each side, as in core.explain.gradcam.cam_summary
# Fractions of pixels hidden / revealed. One step at half the pixels, against (0.1, 0.25, 0.5) before: on 240
# validation X-rays the score kept Spearman ρ 0.967 (deletion 0.997, insertion 0.981) and its sign on 96 %,
# and the probe needs 4 fewer forward passes (scripts/faithfulness_steps.py measures it again).
FAITHFULNESS_STEPS = (0.5,)
BLUR_SIGMA = 12.0  # px at 224: removes lung texture and glyphs, keeps the overall exposure
BLANK_VALUE = int(round(PIXEL_MEAN * 255))  # the grey that normalises to zero: "no signal"

# The one rule for "mainly on the lungs", everywhere the lab says it (panel, quiz, reports, Model Card):
# more than half of the heatmap's mass on the lung fields. The "outside the lungs" flag is stricter
# (a validation percentile), never looser, so a flagged map is always also "not mainly on the lungs".
MAINLY_ON_LUNGS = 0.5


def mainly_on_lungs(lung_share: float) -> bool:
    return lung_share > MAINLY_ON_LUNGS


# Used only when no validation fit is installed; documented in the model card as such.
DEFAULT_THRESHOLDS = {
    "lung_share_below": 0.5,
    "border_share_above": 0.25,
    "marker_share_above": 0.05,
    "marker_delta_above": 0.1,
}


# ---------- masks and images --------------------------------------------------------------


def pack_mask(mask: np.ndarray) -> bytes:
    return zlib.compress(np.packbits(np.asarray(mask, dtype=bool)).tobytes(), 6)


def unpack_mask(data: bytes, shape: tuple[int, int] = (INPUT_SIZE, INPUT_SIZE)) -> np.ndarray:
    bits = np.frombuffer(zlib.decompress(data), dtype=np.uint8)
    return np.unpackbits(bits)[: shape[0] * shape[1]].reshape(shape).astype(bool)


def blank_outside(gray224: np.ndarray, lung_mask: np.ndarray, margin: int = 5) -> np.ndarray:
    """Keep the lung fields (grown by `margin` px so their edges stay), neutral grey elsewhere."""
    keep = cv2.dilate(lung_mask.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool)
    out = np.full_like(gray224, BLANK_VALUE)
    out[keep] = gray224[keep]
    return out


def lung_contour_overlay(rgb: np.ndarray, lung_mask224: np.ndarray, colour=(0, 255, 120)) -> np.ndarray:
    """Draw the lung outline over an (H, W) grey or (H, W, 3) image at that image's size."""
    image = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb.copy()
    h, w = image.shape[:2]
    mask = cv2.resize(lung_mask224.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(image, contours, -1, colour, max(1, round(max(h, w) / 224)))
    return np.ascontiguousarray(image)


def draw_boxes(rgb: np.ndarray, boxes: list[list[int]], colour=(255, 60, 200)) -> np.ndarray:
    """Marker boxes (224-grid) drawn on an image of any size."""
    image = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb.copy()
    h, w = image.shape[:2]
    sx, sy = w / INPUT_SIZE, h / INPUT_SIZE
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(
            image,
            (int(x0 * sx), int(y0 * sy)),
            (int(x1 * sx) - 1, int(y1 * sy) - 1),
            colour,
            max(1, round(max(h, w) / 224)),
        )
    return np.ascontiguousarray(image)


# ---------- regions and shares ------------------------------------------------------------


def region_masks(lung_mask: np.ndarray, boxes: list[list[int]]) -> dict[str, np.ndarray]:
    """Boolean (224, 224) masks of the regions a CAM can fall on (they may overlap)."""
    n = INPUT_SIZE
    lung = lung_mask.astype(bool)
    border = np.ones((n, n), bool)
    m = int(n * BORDER_FRACTION)
    border[m:-m, m:-m] = False
    between = np.zeros((n, n), bool)
    below = np.zeros((n, n), bool)
    if lung.any():
        points = cv2.findNonZero(lung.astype(np.uint8))
        hull = np.zeros((n, n), np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
        between = hull.astype(bool) & ~lung  # heart, mediastinum, trachea: between the lung fields
        rows = np.nonzero(lung.any(axis=1))[0]
        below[rows.max() + 1 :, :] = True
    return {
        "lung": lung,
        "border": border,
        "marker": marker_mask(boxes, (n, n)),
        "mediastinum": between,
        "below_diaphragm": below,
    }


def explanation_shares(cam: np.ndarray, lung_mask: np.ndarray, boxes: list[list[int]]) -> dict:
    """Shares of CAM mass per region and the region of the peak."""
    heat = upsample(cam, INPUT_SIZE, INPUT_SIZE)
    regions = region_masks(lung_mask, boxes)
    total = float(heat.sum())
    if total <= 0:
        shares = {name: 0.0 for name in regions}
        peak = "outside"
    else:
        shares = {name: round(float(heat[mask].sum() / total), 4) for name, mask in regions.items()}
        py, px = np.unravel_index(int(np.argmax(heat)), heat.shape)
        peak = next((r for r in REGIONS[:-1] if regions[r][py, px]), "outside")
    return {
        "lung_share": shares["lung"],
        "outside_lung_share": round(1.0 - shares["lung"], 4) if total > 0 else 0.0,
        "border_share": shares["border"],
        "marker_share": shares["marker"],
        "mediastinum_share": shares["mediastinum"],
        "below_diaphragm_share": shares["below_diaphragm"],
        "peak_region": peak,
    }


# ---------- probes ------------------------------------------------------------------------


def faithfulness_images(
    gray224: np.ndarray, cam: np.ndarray, steps: tuple[float, ...] = FAITHFULNESS_STEPS
) -> list[np.ndarray]:
    """Blurred copy, then deletion steps (most-attended pixels blurred), then insertion steps."""
    heat = upsample(cam, INPUT_SIZE, INPUT_SIZE)
    blurred = cv2.GaussianBlur(gray224, (0, 0), BLUR_SIGMA)
    order = np.argsort(-heat.ravel(), kind="stable")
    images = [blurred]
    for inserting in (False, True):
        for fraction in steps:
            top: np.ndarray = np.zeros(heat.size, bool)  # flat, then reshaped to heat's shape
            top[order[: int(fraction * heat.size)]] = True
            top = top.reshape(heat.shape)
            images.append(np.where(top, blurred, gray224) if not inserting else np.where(top, gray224, blurred))
    return images


def curve_area(start: float, points: list[float], end: float, steps: tuple[float, ...] = FAITHFULNESS_STEPS) -> float:
    xs = [0.0, *steps, 1.0]
    ys = [start, *points, end]
    return float(sum((xs[i + 1] - xs[i]) * (ys[i] + ys[i + 1]) / 2 for i in range(len(xs) - 1)))


@dataclass
class LimitsProbe:
    metrics: dict  # the per-prediction "limits" dict stored with the prediction
    lung_mask: np.ndarray  # (224, 224) bool
    marker_erased: np.ndarray | None = None  # (224, 224) uint8 counterfactual images
    outside_blanked: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    lung_share_below: float
    border_share_above: float
    marker_share_above: float
    marker_delta_above: float
    fitted: bool = False

    @classmethod
    def load(cls, weights_dir: Path, classifier_sha256: str | None = None) -> Thresholds:
        path = Path(weights_dir) / THRESHOLDS_FILE
        if path.is_file():
            data = json.loads(path.read_text())
            if classifier_sha256 is None or data.get("classifier_sha256") == classifier_sha256:
                fitted = dict(data["thresholds"])
                fitted["lung_share_below"] = min(fitted["lung_share_below"], MAINLY_ON_LUNGS)
                return cls(**fitted, fitted=True)
        return cls(**DEFAULT_THRESHOLDS, fitted=False)

    def flags(self, m: dict) -> list[str]:
        fired = {
            "heatmap_on_marker": bool(m["markers"])
            and (m["marker_share"] >= self.marker_share_above or m["peak_region"] == "marker"),
            "heatmap_on_border": m["border_share"] >= self.border_share_above,
            "heatmap_outside_lungs": m["lung_share"] < self.lung_share_below,
            "marker_dependent": m["counterfactual"]["marker_delta"] is not None
            and abs(m["counterfactual"]["marker_delta"]) >= self.marker_delta_above,
        }
        return [f for f in LIMIT_FLAGS if fired[f]]


@dataclass
class ProbePlan:
    """One image's probe before its forward pass: the masks, markers, shares and the images to predict."""

    probability: float
    cam_target: str
    thresholds: Thresholds
    segmenter_version: str
    lung: np.ndarray
    boxes: list[list[int]]
    shares: dict
    blanked: np.ndarray
    erased: np.ndarray | None
    control: bool
    images: list[np.ndarray]


def plan_probe(
    segmenter,
    gray224: np.ndarray,
    cam: np.ndarray,
    probability: float,
    cam_target: str,
    thresholds: Thresholds,
    control: bool = False,
    lung_probability: np.ndarray | None = None,
) -> ProbePlan:
    gray224 = np.ascontiguousarray(gray224, dtype=np.uint8)
    lung = segmenter.segment(gray224) if lung_probability is None else clean_mask(lung_probability >= 0.5)
    boxes = detect_markers(gray224, lung)
    erased = erase_markers(gray224, boxes) if boxes else None
    blanked = blank_outside(gray224, lung)
    images = faithfulness_images(gray224, cam) + [blanked] + ([erased] if erased is not None else [])
    control_box = _control_box(lung, boxes, gray224) if control else None
    if control_box is not None:
        images.append(erase_markers(gray224, [control_box]))
    shares = explanation_shares(cam, lung, boxes)
    return ProbePlan(
        probability, cam_target, thresholds, segmenter.version, lung, boxes, shares, blanked, erased,
        control_box is not None, images,
    )  # fmt: skip


def finish_probe(plan: ProbePlan, probs: np.ndarray) -> LimitsProbe:
    """The metrics from P(pneumonia) of `plan.images`, in their order."""
    probability = plan.probability
    target_p = (lambda p: p) if plan.cam_target == "PNEUMONIA" else (lambda p: 1.0 - p)
    n = len(FAITHFULNESS_STEPS)
    start, blurred_p = target_p(probability), target_p(probs[0])
    deletion = curve_area(start, [target_p(p) for p in probs[1 : 1 + n]], blurred_p)
    insertion = curve_area(blurred_p, [target_p(p) for p in probs[1 + n : 1 + 2 * n]], start)
    p_blanked = float(probs[1 + 2 * n])
    p_erased = float(probs[2 + 2 * n]) if plan.erased is not None else None
    metrics = {
        "version": LIMITS_VERSION,
        "segmenter_version": plan.segmenter_version,
        **plan.shares,
        "lung_area": round(float(plan.lung.mean()), 4),
        "markers": plan.boxes,
        "faithfulness": {
            "steps": list(FAITHFULNESS_STEPS),
            "deletion_auc": round(deletion, 4),
            "insertion_auc": round(insertion, 4),
            "score": round(insertion - deletion, 4),
        },
        "counterfactual": {
            "p_marker_erased": None if p_erased is None else round(p_erased, 4),
            "marker_delta": None if p_erased is None else round(p_erased - probability, 4),
            "p_outside_blanked": round(p_blanked, 4),
            "outside_delta": round(p_blanked - probability, 4),
        },
        "thresholds_fitted": plan.thresholds.fitted,
    }
    metrics["flags"] = plan.thresholds.flags(metrics)
    extra = {"control_delta": float(probs[-1]) - probability} if plan.control else {}
    return LimitsProbe(metrics, plan.lung, plan.erased, plan.blanked, extra)


PROBE_CHUNK = 64  # images per forward pass when many probes run together (import, demo seed)


def run_probes(service, plans: list[ProbePlan]) -> list[LimitsProbe]:
    """Every plan's images through the model in as few forward passes as fit PROBE_CHUNK, then the metrics."""
    images = [image for plan in plans for image in plan.images]
    probs = np.concatenate(
        [
            service.forward(normalize(torch.from_numpy(np.stack(images[i : i + PROBE_CHUNK]))[:, None])).probability
            for i in range(0, len(images), PROBE_CHUNK)
        ]
    ).astype(float) if images else np.zeros(0)  # fmt: skip
    out, at = [], 0
    for plan in plans:
        out.append(finish_probe(plan, probs[at : at + len(plan.images)]))
        at += len(plan.images)
    return out


def probe_image(
    service,
    segmenter,
    gray224: np.ndarray,
    cam: np.ndarray,
    probability: float,
    cam_target: str,
    thresholds: Thresholds,
    control: bool = False,
    lung_probability: np.ndarray | None = None,
) -> LimitsProbe:
    """All limit metrics for one analysed image; one batched forward pass of 4-5 (6 with control) images.

    `control` adds an erasure of a same-size patch at a non-lung, non-marker spot: the noise
    floor against which marker erasure is judged when thresholds are fitted.
    """
    plan = plan_probe(segmenter, gray224, cam, probability, cam_target, thresholds, control, lung_probability)
    return run_probes(service, [plan])[0]


def _control_box(lung: np.ndarray, boxes: list[list[int]], gray224: np.ndarray) -> list[int] | None:
    """A patch the size of the first marker (or 14×20 px) in the top corners, off lungs and markers."""
    w, h = (boxes[0][2] - boxes[0][0], boxes[0][3] - boxes[0][1]) if boxes else (14, 20)
    taken = marker_mask(boxes) | lung
    for x0, y0 in ((INPUT_SIZE - w - 8, 8), (8, 8), (INPUT_SIZE - w - 8, INPUT_SIZE - h - 8), (8, INPUT_SIZE - h - 8)):
        if not taken[y0 : y0 + h, x0 : x0 + w].any():
            return [x0, y0, x0 + w, y0 + h]
    return None


def probe_analyses(service, analyses: list) -> list[LimitsProbe | None]:
    """The probes of finished core.analysis.Analysis objects, batched; None without a trained model or segmenter."""
    if service.segmenter is None:
        return [None] * len(analyses)
    plans = {}
    for i, analysis in enumerate(analyses):
        if not analysis.model_trained:
            continue
        gray224 = analysis.model_input
        if gray224 is None:
            gray224 = resize_gray(analysis.image.pixels, INPUT_SIZE)
        plans[i] = plan_probe(
            service.segmenter,
            gray224,
            analysis.cam,
            analysis.probability,
            analysis.cam_target,
            service.limit_thresholds,
            lung_probability=analysis.lung_probability,
        )
    probes = dict(zip(plans, run_probes(service, list(plans.values()))))
    return [probes.get(i) for i in range(len(analyses))]


def probe_analysis(service, analysis) -> LimitsProbe | None:
    """The probe for one finished core.analysis.Analysis; None without a trained model or segmenter."""
    return probe_analyses(service, [analysis])[0]
