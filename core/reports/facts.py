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
from core.reliability.frontal_check import COLOUR_LIMIT  # one colour rule for the check and the facts
from core.reliability.input_check import IN_DISTRIBUTION, OUT_OF_DISTRIBUTION, UNCHECKED
from core.reliability.uncertainty import CONFIDENT, UNUSUAL_FAMILIARITY
from core.vocabulary import CLASS_NAMES, UNCERTAIN_MARGIN, pixel_hash

FACTS_VERSION = 2
# Without an uncertainty measure from the model, a probability this close to the decision
# threshold is called uncertain (the band the Analyze page uses for "not sure").
SMALL_SIDE_PX = 256  # below this the 224-px model input is an upscale: fine detail is invented
LOW_CONTRAST_RANGE = 60  # grey levels between the 2nd and 98th percentile
CAM_METRIC_WORDS = ("lung", "marker", "mediastin", "diaphragm", "outside")


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
    uncertainty_basis: str  # how `uncertain` was decided, in words
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
        return values + list(self.uncertainty_figures)

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
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


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
        return "not_checked", guard.reason if guard is not None else "no input check was run"
    if guard.verdict == IN_DISTRIBUTION:
        return "passed", guard.reason
    if guard.verdict == OUT_OF_DISTRIBUTION:
        return "unlike_training", guard.reason
    return ("overridden" if guard.overridden else "failed"), guard.reason


def _uncertainty(analysis, probability: float, threshold: float) -> tuple[bool, str, float | None, tuple[float, ...]]:
    """core.reliability.uncertainty.Uncertainty → (not sure?, why, score, figures the wording quotes)."""
    certainty = getattr(analysis, "uncertainty", None)
    if certainty is not None:
        basis = "; ".join(certainty.reasons) or (
            f"P(pneumonia) outside the uncertain band {certainty.band[0]:.0%}–{certainty.band[1]:.0%}"
        )
        figures = (round(certainty.band[0], 4), round(certainty.band[1], 4), 1 - UNUSUAL_FAMILIARITY / 100)
        return certainty.level != CONFIDENT, basis, certainty.score, figures
    margin = abs(probability - threshold)
    return (
        margin < UNCERTAIN_MARGIN,
        f"distance of the probability from the decision threshold (uncertain below {UNCERTAIN_MARGIN:.2f})",
        round(margin, 4),
        (),
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
    uncertain, basis, value, figures = _uncertainty(analysis, p, float(analysis.threshold))
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
