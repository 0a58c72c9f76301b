"""Stage 1 of the input check: is this a frontal chest X-ray at all?

Signals come from what the project already runs: the lung U-Net's probability map on the
224-px grid and the image's colourfulness. A frontal chest film shows two solid lung fields
side by side, each a sizeable share of the image, which the segmenter marks with confidence.
A photo, a document, another body part or modality, and a lateral view (one field, or two
fields one behind the other) do not. The limits are wide tails of what the kermany224
*training* films give (so pediatric films pass by construction) with room for adult films,
whose lungs fill more of the frame; `python -m core guard-eval` measures them on images
nobody trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from core.i18n import N_

COLOUR_LIMIT = 15.0  # Hasler–Süsstrunk "slightly colourful", where photos start; radiographs are grey

# Reason codes, stable for the JSON, the stored prediction and translations.
COLOUR = "colour"
NO_LUNGS = "no_lung_fields"
ONE_FIELD = "one_lung_field"
NOT_SIDE_BY_SIDE = "fields_not_side_by_side"
ODD_SIZE = "lung_fields_implausible"
UNSURE_SEGMENTATION = "lung_fields_unclear"
PASSED = "frontal_chest"

# Each reason is one of these templates filled with figures formatted here (English digits): the stored
# reason stays plain text, and a page translates it by matching the template (pages.i18n_ui.from_template).
COLOUR_REASON = N_(
    "it is in colour (colourfulness {colourfulness}; radiographs are grey, limit {limit}): a photo or a screenshot, "
    "not an X-ray"
)
NO_LUNGS_REASON = N_(
    "no lung fields were found (lung share {share} of the image, at least {least} expected): another body part "
    "or modality, a document or a photo?"
)
ONE_FIELD_REASON = N_(
    "only one lung field was found, not two (a lateral view, another body part, or a film cropped to one side?)"
)
NOT_SIDE_BY_SIDE_REASON = N_(
    "the two lung fields do not lie side by side as on a frontal view (a lateral view, or an image turned on its side?)"
)
ODD_SIZE_REASON = N_(
    "the 'lung fields' cover {share} of the image, more than any chest film: not a frontal chest X-ray"
)
UNSURE_REASON = N_(
    "the lung fields are unclear (segmentation confidence {confidence} < {least}): not a frontal chest X-ray?"
)
PASSED_REASON = N_("two lung fields side by side, as on a frontal chest X-ray")
REASONS = (
    COLOUR_REASON, NO_LUNGS_REASON, ONE_FIELD_REASON, NOT_SIDE_BY_SIDE_REASON, ODD_SIZE_REASON, UNSURE_REASON, PASSED_REASON
)  # fmt: skip


@dataclass(frozen=True)
class FrontalLimits:
    """Wide tails of kermany224/train (every 25th film: minima area 0.22, smaller field 0.10,
    balance 0.58, separation 0.31, confidence 0.85; maximum vertical offset 0.14), loosened for
    films from elsewhere. Measured by `python -m core guard-eval`, never fitted on its images."""

    min_total_area: float = 0.08  # both fields together, share of the image
    max_total_area: float = 0.80
    min_field_area: float = 0.02  # the smaller field
    min_balance: float = 0.25  # smaller / larger field area
    min_separation: float = 0.15  # horizontal distance of the centroids, share of the width
    max_vertical_offset: float = 0.25  # vertical distance of the centroids, share of the height
    min_confidence: float = 0.72  # mean |2p − 1| where the segmenter's p ≥ 0.25: how sure it is of its lungs
    colour_limit: float = COLOUR_LIMIT


@dataclass(frozen=True)
class FrontalSignals:
    total_area: float
    field_areas: tuple[float, ...]  # largest first, at most two
    balance: float
    separation: float
    vertical_offset: float
    confidence: float
    colourfulness: float

    def to_dict(self) -> dict:
        return {
            k: (round(v, 4) if isinstance(v, float) else [round(a, 4) for a in v] if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
        }


@dataclass(frozen=True)
class FrontalVerdict:
    passed: bool
    code: str  # PASSED or one of the refusal codes
    reason: str
    signals: FrontalSignals

    def to_dict(self) -> dict:
        return {"passed": self.passed, "code": self.code, "reason": self.reason, "signals": self.signals.to_dict()}


def lung_signals(prob224: np.ndarray, colourfulness: float) -> FrontalSignals:
    """Shape, size, symmetry and confidence of the (at most two) largest lung components."""
    h, w = prob224.shape
    mask = (prob224 >= 0.5).astype(np.uint8)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    order = np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1][:2] + 1 if n > 1 else np.array([], int)
    areas = tuple(float(stats[i, cv2.CC_STAT_AREA]) / (h * w) for i in order)
    total = float(sum(areas))
    balance = areas[1] / areas[0] if len(areas) == 2 and areas[0] > 0 else 0.0
    if len(order) == 2:
        (x0, y0), (x1, y1) = centroids[order[0]], centroids[order[1]]
        separation, offset = abs(x0 - x1) / w, abs(y0 - y1) / h
    else:
        separation, offset = 0.0, 1.0
    touched = prob224 >= 0.25
    confidence = float(np.abs(2 * prob224[touched] - 1).mean()) if touched.any() else 0.0
    return FrontalSignals(
        total, areas, float(balance), float(separation), float(offset), confidence, float(colourfulness)
    )


def judge(signals: FrontalSignals, limits: FrontalLimits = FrontalLimits()) -> FrontalVerdict:
    s, lim = signals, limits
    if s.colourfulness > lim.colour_limit:
        return FrontalVerdict(
            False,
            COLOUR,
            COLOUR_REASON.format(colourfulness=f"{s.colourfulness:.0f}", limit=f"{lim.colour_limit:.0f}"),
            s,
        )
    if s.total_area < lim.min_total_area:
        return FrontalVerdict(
            False,
            NO_LUNGS,
            NO_LUNGS_REASON.format(share=f"{s.total_area:.0%}", least=f"{lim.min_total_area:.0%}"),
            s,
        )
    if len(s.field_areas) < 2 or s.field_areas[1] < lim.min_field_area or s.balance < lim.min_balance:
        return FrontalVerdict(
            False,
            ONE_FIELD,
            ONE_FIELD_REASON,
            s,
        )
    if s.separation < lim.min_separation or s.vertical_offset > lim.max_vertical_offset:
        return FrontalVerdict(
            False,
            NOT_SIDE_BY_SIDE,
            NOT_SIDE_BY_SIDE_REASON,
            s,
        )
    if s.total_area > lim.max_total_area:
        return FrontalVerdict(
            False,
            ODD_SIZE,
            ODD_SIZE_REASON.format(share=f"{s.total_area:.0%}"),
            s,
        )
    if s.confidence < lim.min_confidence:
        return FrontalVerdict(
            False,
            UNSURE_SEGMENTATION,
            UNSURE_REASON.format(confidence=f"{s.confidence:.2f}", least=f"{lim.min_confidence:.2f}"),
            s,
        )
    return FrontalVerdict(True, PASSED, PASSED_REASON, s)


def check_frontal(prob224: np.ndarray, colourfulness: float, limits: FrontalLimits = FrontalLimits()) -> FrontalVerdict:
    return judge(lung_signals(prob224, colourfulness), limits)
