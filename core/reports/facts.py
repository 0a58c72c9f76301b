"""The facts a report may use: a small, versioned, frozen record built from one analysis.

Everything downstream (prompt, offline template, hallucination guard, "Ask why") reads these
facts and nothing else, so a report can only say what the analysis measured.
Optional parts of `Analysis` that other work adds later (input guard, uncertainty, lung and
marker CAM metrics) are read with defaults, so facts build before and after that work lands.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from core.formatting import json_probability
from core.imaging.preprocess import INPUT_SIZE
from core.reliability.frontal_check import COLOUR_LIMIT  # one colour rule for the check and the facts
from core.reliability.input_check import IN_DISTRIBUTION, NOT_RUN_REASON, OUT_OF_DISTRIBUTION, UNCHECKED
from core.reliability.uncertainty import CONFIDENT, UNUSUAL_FAMILIARITY
from core.vocabulary import CLASS_NAMES, UNCERTAIN_MARGIN, pixel_hash

FACTS_VERSION = 3  # 3: uncertainty_reasons; "small" means smaller than the model input
# Below the model input's side (224 px) the picture the model sees is an upscale: fine detail is invented.
SMALL_SIDE_PX = INPUT_SIZE
LOW_CONTRAST_RANGE = 60  # grey levels between the 2nd and 98th percentile
CAM_METRIC_WORDS = ("lung", "marker", "mediastin", "diaphragm", "outside")

# Why the model is not sure (ReportFacts.uncertainty_reasons), in the order a report gives them.
IN_BAND = "in_band"  # the probability lies inside the uncertain band around the threshold
INPUT_CHECK_FLAGGED = "input_check_flagged"  # not a frontal chest X-ray, analysed anyway
UNLIKE_TRAINING = "unlike_training"  # a chest X-ray unlike the training films
UNUSUAL_IMAGE = "unusual_image"  # more unusual than nearly all validation X-rays
OTHER_REASON = "other"  # a reason this version does not know by name (uncertainty_basis says it)
UNCERTAINTY_REASONS = (IN_BAND, INPUT_CHECK_FLAGGED, UNLIKE_TRAINING, UNUSUAL_IMAGE, OTHER_REASON)


class NoPrediction(ValueError):
    """The analysis carries no real prediction (placeholder model): there is nothing to report on."""


@dataclass(frozen=True)
class ReportFacts:
    model_version: str
    label: str  # the model's output class
    probability_pneumonia: float  # calibrated, 0..1, rounded to 4 places
    threshold: float
    alternative: str  # the other class
    uncertain: bool
    uncertainty_basis: str  # how `uncertain` was decided, in English words (for the prompt)
    uncertainty_value: float | None
    guard_verdict: str  # "passed", "unlike_training", "failed", "overridden" or "not_checked"
    guard_detail: str
    cam_target: str
    cam_peak_zone: str | None
    cam_zone_share: tuple[tuple[str, float], ...]  # largest first
    cam_border_share: float
    cam_metrics: tuple[tuple[str, float], ...]  # lung / marker shares once the limits work adds them
    image_width: int
    image_height: int
    source_format: str
    quality_flags: tuple[str, ...]  # "small", "low_contrast", "colour"
    facts_version: int = FACTS_VERSION
    # Other fractions the uncertainty wording quotes (its band's limits, the "unusual" cut-off).
    uncertainty_figures: tuple[float, ...] = ()
    # Model-limits flags (core.explain.limits.FLAGS) that fired for this image.
    shortcut_flags: tuple[str, ...] = ()
    # Why `uncertain` holds, as UNCERTAINTY_REASONS codes (empty in facts older than version 3).
    uncertainty_reasons: tuple[str, ...] = ()

    # -- derived numbers, in one place so prompt, template and guard agree ------------------
    @property
    def label_probability(self) -> float:
        return self.probability_pneumonia if self.label == "PNEUMONIA" else 1.0 - self.probability_pneumonia

    @property
    def side_share(self) -> dict[str, float]:
        return {
            side: round(sum(v for z, v in self.cam_zone_share if z.startswith(side)), 4) for side in ("right", "left")
        }

    @property
    def band_share(self) -> dict[str, float]:
        return {
            band: round(sum(v for z, v in self.cam_zone_share if z.endswith(band)), 4)
            for band in ("upper", "middle", "lower")
        }

    @property
    def uncertainty_band(self) -> tuple[float, float]:
        """The probabilities between which the model is "not sure": the fitted band, else threshold ± margin."""
        if len(self.uncertainty_figures) >= 2:
            return self.uncertainty_figures[0], self.uncertainty_figures[1]
        return (
            round(max(self.threshold - UNCERTAIN_MARGIN, 0.0), 4),
            round(min(self.threshold + UNCERTAIN_MARGIN, 1.0), 4),
        )

    @property
    def in_uncertain_band(self) -> bool:
        low, high = self.uncertainty_band
        return low < self.probability_pneumonia < high

    @property
    def upscaled(self) -> bool:
        """The original is smaller than the model input on a side, so the model sees an enlarged picture."""
        return min(self.image_width, self.image_height) < SMALL_SIDE_PX

    @property
    def reasons_uncertain(self) -> tuple[str, ...]:
        """Why the model is not sure, as codes: the stored ones, else read from older facts' basis text.

        The band is a reason whenever the probability lies in it, so a report never calls a probability
        inside the band "well away from the threshold".
        """
        reasons = list(self.uncertainty_reasons)
        if not reasons and self.uncertain:
            reasons = [reason_code(r) for r in self.uncertainty_basis.split(";")]
            reasons = [r for r in reasons if r != OTHER_REASON]
        if self.in_uncertain_band and IN_BAND not in reasons:
            reasons.insert(0, IN_BAND)
        if not self.in_uncertain_band and IN_BAND in reasons:
            reasons.remove(IN_BAND)
        if self.uncertain and not reasons:
            reasons.append(OTHER_REASON)
        return tuple(r for r in UNCERTAINTY_REASONS if r in reasons)

    @property
    def not_sure(self) -> bool:
        return bool(self.reasons_uncertain)

    def metric(self, word: str) -> tuple[str, float] | None:
        """The CAM share named `<word>_share` if present, else the first metric containing `word`."""
        exact = next(((k, v) for k, v in self.cam_metrics if k == f"{word}_share"), None)
        return exact or next(((k, v) for k, v in self.cam_metrics if word in k), None)

    def known_fractions(self) -> list[float]:
        """Every fraction a report may quote (as a percentage): the guard accepts only these."""
        p = self.probability_pneumonia
        values = [p, 1.0 - p, self.threshold, 1.0 - self.threshold, self.cam_border_share, 1.0 - self.cam_border_share]
        values += [v for _, v in self.cam_zone_share] + list(self.side_share.values()) + list(self.band_share.values())
        for _, v in self.cam_metrics:
            values += [v, 1.0 - v, abs(v)]  # abs: a probability change may be quoted as a size
        if self.uncertainty_value is not None and 0.0 <= self.uncertainty_value <= 1.0:
            values.append(self.uncertainty_value)
        return values + list(self.uncertainty_figures) + list(self.uncertainty_band)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ReportFacts:
        data = dict(data)
        for name in ("cam_zone_share", "cam_metrics"):
            data[name] = tuple((str(k), float(v)) for k, v in data.get(name, ()))
        data["quality_flags"] = tuple(data.get("quality_flags", ()))
        data["uncertainty_figures"] = tuple(float(v) for v in data.get("uncertainty_figures", ()))
        data["shortcut_flags"] = tuple(data.get("shortcut_flags", ()))
        data["uncertainty_reasons"] = tuple(data.get("uncertainty_reasons", ()))
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


# Words of core.reliability.uncertainty's reasons (and of older facts' basis text) → reason codes.
REASON_WORDS = (
    (INPUT_CHECK_FLAGGED, ("not to be a frontal", "input guard flagged", "analysed anyway")),
    (UNLIKE_TRAINING, ("unlike the training",)),
    (UNUSUAL_IMAGE, ("more unusual than",)),
    (IN_BAND, ("uncertain band",)),
)


def reason_code(reason: str) -> str:
    """One of core.reliability.uncertainty's reasons, in words → its UNCERTAINTY_REASONS code."""
    text = reason.lower()
    return next((code for code, words in REASON_WORDS if any(w in text for w in words)), OTHER_REASON)


def image_id(pixels: np.ndarray) -> str:
    """Content hash of the validated pixels, the same one the case library keys images by."""
    return pixel_hash(pixels)


def quality_flags(pixels: np.ndarray, colourfulness: float) -> tuple[str, ...]:
    flags = []
    if min(pixels.shape[:2]) < SMALL_SIDE_PX:
        flags.append("small")
    lo, hi = np.percentile(pixels, [2, 98])
    if hi - lo < LOW_CONTRAST_RANGE:
        flags.append("low_contrast")
    if colourfulness > COLOUR_LIMIT:
        flags.append("colour")
    return tuple(flags)


def _guard(analysis) -> tuple[str, str]:
    """core.reliability.input_check.GuardVerdict → passed / unlike_training / failed / overridden / not_checked."""
    guard = getattr(analysis, "guard", None)
    if guard is None or guard.verdict == UNCHECKED:
        return "not_checked", guard.reason if guard is not None else NOT_RUN_REASON
    if guard.verdict == IN_DISTRIBUTION:
        return "passed", guard.reason
    if guard.verdict == OUT_OF_DISTRIBUTION:
        return "unlike_training", guard.reason
    return ("overridden" if guard.overridden else "failed"), guard.reason


def _uncertainty(
    analysis, probability: float, threshold: float
) -> tuple[bool, str, float | None, tuple[float, ...], tuple[str, ...]]:
    """core.reliability.uncertainty.Uncertainty → (not sure?, why in words, score, figures quoted, why as codes).

    The words are whole clauses ("P(pneumonia) 61% lies in the uncertain band 49%–68% around the
    threshold 50%"), never wrapped in "judged by the …": they are given to the prompt as they are,
    and the offline template words each code itself, in either language.
    """
    certainty = getattr(analysis, "uncertainty", None)
    if certainty is not None:
        low, high = certainty.band
        basis = "; ".join(certainty.reasons) or (
            f"P(pneumonia) {probability:.0%} lies outside the uncertain band {low:.0%}–{high:.0%} "
            f"around the threshold {threshold:.0%}"
        )
        figures = (round(low, 4), round(high, 4), 1 - UNUSUAL_FAMILIARITY / 100)
        codes: list[str] = []
        if certainty.level != CONFIDENT:
            codes = [reason_code(reason) for reason in certainty.reasons]
            if low < probability < high:
                codes.append(IN_BAND)
            codes = [c for c in UNCERTAINTY_REASONS if c in codes] or [OTHER_REASON]
        return certainty.level != CONFIDENT, basis, certainty.score, figures, tuple(codes)
    margin = abs(probability - threshold)
    uncertain = margin < UNCERTAIN_MARGIN
    side = "less" if uncertain else "no less"
    return (
        uncertain,
        f"P(pneumonia) {probability:.0%} is {side} than {UNCERTAIN_MARGIN:.2f} from the decision threshold {threshold:.0%}",
        round(margin, 4),
        (),
        (IN_BAND,) if uncertain else (),
    )


def _cam_metrics(summary: dict) -> tuple[tuple[str, float], ...]:
    """Numeric lung / marker / mediastinum entries of the CAM summary, flattened one level."""
    found = []
    for key, value in sorted(summary.items()):
        items = value.items() if isinstance(value, dict) and key not in ("zone_share", "peak") else [(None, value)]
        for sub, v in items:
            name = key if sub is None else f"{key}.{sub}"
            if isinstance(v, (int, float)) and not isinstance(v, bool) and any(w in name for w in CAM_METRIC_WORDS):
                found.append((name, round(float(v), 4)))
    return tuple(found)


def build_facts(analysis) -> ReportFacts:
    """Facts from a `core.analysis.Analysis`. Raises NoPrediction for the untrained placeholder."""
    if not getattr(analysis, "model_trained", False):
        raise NoPrediction("no trained model is installed, so there is no prediction to report on")
    p = float(analysis.probability)
    label = str(analysis.label)
    uncertain, basis, value, figures, reasons = _uncertainty(analysis, p, float(analysis.threshold))
    verdict, detail = _guard(analysis)
    summary = analysis.cam_summary or {}
    limits = getattr(analysis, "limits", None)
    limit_metrics = {k: v for k, v in (limits.metrics if limits else {}).items() if k not in ("lung_area", "version")}
    zones = tuple(
        sorted(
            ((str(z), round(float(v), 4)) for z, v in summary.get("zone_share", {}).items()),
            key=lambda kv: (-kv[1], kv[0]),
        )
    )
    image = analysis.image
    return ReportFacts(
        model_version=str(analysis.model_version),
        label=label,
        probability_pneumonia=json_probability(p),
        threshold=round(float(analysis.threshold), 4),
        alternative=next(c for c in CLASS_NAMES if c != label),
        uncertain=uncertain,
        uncertainty_basis=basis,
        uncertainty_value=value,
        uncertainty_figures=figures,
        uncertainty_reasons=reasons,
        guard_verdict=verdict,
        guard_detail=detail,
        cam_target=str(analysis.cam_target),
        cam_peak_zone=(summary.get("peak") or {}).get("zone"),
        cam_zone_share=zones,
        cam_border_share=round(float(summary.get("border_share", 0.0)), 4),
        cam_metrics=_cam_metrics({**summary, **limit_metrics}),
        shortcut_flags=tuple(limit_metrics.get("flags", ())),
        image_width=int(image.width),
        image_height=int(image.height),
        source_format=str(image.source_format),
        quality_flags=quality_flags(image.pixels, float(getattr(image, "colourfulness", 0.0))),
    )
