"""When the model is not sure: an "uncertain" band around the decision threshold, fitted on validation.

The band is symmetric in log-odds about the threshold. Its half-width is the smallest for which
validation images *outside* it are classified with at most `target_error` errors — so "confident"
has a measured meaning. An image the input guard flagged (and the user analysed anyway), or one
more unusual than nearly all validation X-rays, is reported as unreliable/uncertain whatever
its probability. No extra forward pass: everything comes from the one prediction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

DEFAULT_HALF_WIDTH = 0.85  # log-odds; ≈ P in [0.30, 0.70] around a 0.5 threshold
MIN_HALF_WIDTH = 0.4  # even a model with no validation errors keeps a band (≈ 0.40–0.60)
TARGET_ERROR = 0.05
UNUSUAL_FAMILIARITY = 5.0  # farther out than 95 % of validation X-rays

CONFIDENT, UNCERTAIN, UNRELIABLE = "confident", "uncertain", "unreliable"


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + np.exp(-z)))


def band_limits(threshold: float, half_width: float) -> tuple[float, float]:
    centre = float(_logit(threshold))
    return _sigmoid(centre - half_width), _sigmoid(centre + half_width)


def fit_band(labels, prob, threshold: float, target_error: float = TARGET_ERROR) -> dict:
    """Smallest log-odds half-width outside which validation error ≤ target_error."""
    labels, prob = np.asarray(labels, int), np.asarray(prob, float)
    margin = np.abs(_logit(prob) - _logit(threshold))
    wrong = (prob >= threshold).astype(int) != labels
    half_width = float(margin.max()) + 1e-6 if len(margin) else DEFAULT_HALF_WIDTH
    for w in np.unique(np.concatenate([[0.0], margin])):
        outside = margin >= w
        if outside.any() and wrong[outside].mean() <= target_error:
            half_width = float(w)
            break
    half_width = max(half_width, MIN_HALF_WIDTH)
    inside = margin < half_width
    return {
        "rule": f"log-odds band about the threshold; outside it validation error ≤ {target_error:.0%}",
        "half_width_logit": half_width,
        "band": list(band_limits(threshold, half_width)),
        "target_error": target_error,
        "val_share_uncertain": float(inside.mean()) if len(inside) else float("nan"),
        "val_accuracy_confident": float(1 - wrong[~inside].mean()) if (~inside).any() else float("nan"),
        "val_accuracy_uncertain": float(1 - wrong[inside].mean()) if inside.any() else float("nan"),
    }


@dataclass(frozen=True)
class Uncertainty:
    level: str  # CONFIDENT, UNCERTAIN or UNRELIABLE
    band: tuple[float, float]  # probabilities between which the model is "not sure"
    reasons: list[str] = field(default_factory=list)
    # One number for the library: 1/(1 + margin/half-width) in log-odds, so 0.5 at the band's edge
    # and above it inside; raised to 0.5 for unusual images and 1.0 for overridden ones, so that
    # "score ≥ 0.5" is exactly "not CONFIDENT".
    score: float = 0.0

    @property
    def sure(self) -> bool:
        return self.level == CONFIDENT

    def to_dict(self) -> dict:
        out = asdict(self)
        out["band"] = [round(b, 4) for b in self.band]
        return out


def assess(probability: float, threshold: float, band_meta: dict | None, guard=None) -> Uncertainty:
    """Read the prediction's reliability from its probability and the guard's verdict."""
    half_width = float((band_meta or {}).get("half_width_logit", DEFAULT_HALF_WIDTH))
    band = band_limits(threshold, half_width)
    reasons = []
    level = CONFIDENT
    if guard is not None and guard.flagged:
        level = UNRELIABLE
        reasons.append("the input check judged this image not to be a frontal chest X-ray; it was analysed anyway")
    elif guard is not None and guard.unlike_training:
        level = UNRELIABLE
        reasons.append(
            "this chest X-ray is unlike the training films (pediatric, one centre): the output is unreliable"
        )
    elif (
        guard is not None
        and guard.familiarity_percentile is not None
        and guard.familiarity_percentile < UNUSUAL_FAMILIARITY
    ):
        level = UNCERTAIN
        reasons.append(f"the image is more unusual than {100 - UNUSUAL_FAMILIARITY:.0f}% of validation X-rays")
    if band[0] < probability < band[1]:
        level = UNRELIABLE if level == UNRELIABLE else UNCERTAIN
        reasons.append(
            f"P(pneumonia) {probability:.0%} lies in the uncertain band {band[0]:.0%}–{band[1]:.0%} "
            f"around the threshold {threshold:.0%}"
        )
    margin = abs(float(_logit(probability)) - float(_logit(threshold)))
    score = 1.0 / (1.0 + margin / half_width)
    if level == UNCERTAIN:
        score = max(score, 0.5)
    elif level == UNRELIABLE:
        score = 1.0
    return Uncertainty(level, band, reasons, round(score, 4))
