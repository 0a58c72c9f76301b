"""Input check, stage 2: is this chest X-ray like the ones the classifier was trained on?

Stage 1 (core.frontal_check) decides whether the image is a frontal chest X-ray at all and
refuses it if not. An image that passes stage 1 but lies far from the training films here is
still analysed, with a warning: the model learnt from pediatric films of one centre, and its
output on an adult film or another hospital's processing is unreliable. Without a lung
segmenter there is no stage 1, and a far image is refused as before.

The classifier answers NORMAL or PNEUMONIA for anything, a cat included. The guard measures how
far the image's penultimate features (global average pool of `layer4`, 512-d — the same forward
pass that gives the prediction, so it costs one small matrix product) lie from the training
images: the Mahalanobis distance to the nearer class mean under one shared covariance
(Lee et al., NeurIPS 2018), shrunk with Ledoit–Wolf because 512 dimensions need it. The limit is
a percentile of the distances of *validation* images, which the fit never saw. Colour is checked
too: radiographs are grey, so a colourful image is refused whatever its features say.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from core.i18n import N_
from core.reliability import frontal_check
from core.reliability.frontal_check import COLOUR_LIMIT  # one colour rule for both stages

if TYPE_CHECKING:
    from core.reliability.frontal_check import FrontalVerdict

GUARD_FILE = "input_guard.safetensors"
FEATURE = "global average pool of ResNet34 layer4 (512-d), same forward pass as the prediction"
DEFAULT_PERCENTILE = 99.0

IN_DISTRIBUTION = "in_distribution"
OUT_OF_DISTRIBUTION = "out_of_distribution"  # stage 2: a chest X-ray unlike the training films; analysed, warned
NOT_CHEST_XRAY = "not_chest_xray"  # stage 1: refused unless the user overrides
UNCHECKED = "unchecked"

# The reasons, as templates filled with figures formatted here (see frontal_check.REASONS); pages translate a
# stored reason by matching them.
COLOUR_REASON = N_("it is in colour (colourfulness {colourfulness}, radiographs are grey: limit {limit})")
FAR_REASON = N_(
    "it does not look like the chest X-rays the model was trained on (feature distance {distance} > limit {limit}, "
    "set so {percentile}% of validation X-rays pass)"
)
UNLIKE_TRAINING_REASON = N_(
    "a chest X-ray unlike the training films (feature distance {distance} > limit {limit}, set so {percentile}% "
    "of validation X-rays pass): the model learnt from pediatric films of one centre, so its output here is unreliable"
)
FAMILIAR_REASON = N_("resembles the training chest X-rays")
NO_MODEL_REASON = N_("no trained model")
NO_GUARD_REASON = N_("no input guard is installed (run `python -m core fit-guard`)")
OTHER_WEIGHTS_REASON = N_("the input guard was fitted for other weights (run `python -m core fit-guard`)")
NOT_RUN_REASON = N_("no input check was run")
REASONS = (
    *frontal_check.REASONS,
    COLOUR_REASON,
    FAR_REASON,
    UNLIKE_TRAINING_REASON,
    FAMILIAR_REASON,
    NO_MODEL_REASON,
    NO_GUARD_REASON,
    OTHER_WEIGHTS_REASON,
    NOT_RUN_REASON,
)


def penultimate(features: torch.Tensor) -> np.ndarray:
    """layer4 map (B, 512, h, w) → the 512-d vector the fc layer sees."""
    return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(features, 1), 1).double().numpy()


@dataclass(frozen=True)
class GuardVerdict:
    verdict: str  # IN_DISTRIBUTION, OUT_OF_DISTRIBUTION, NOT_CHEST_XRAY or UNCHECKED
    reason: str
    distance: float | None
    threshold: float | None
    colourfulness: float
    familiarity_percentile: float | None  # share of validation images nearer to the training data
    overridden: bool = False
    stage: int | None = None  # which stage decided: 1 (is it a frontal chest X-ray?) or 2 (is it like ours?)
    frontal: dict | None = None  # stage 1's verdict and signals (core.frontal_check), when it ran

    @property
    def flagged(self) -> bool:
        """Refused: not a frontal chest X-ray (analysed only when the user overrides)."""
        return self.verdict == NOT_CHEST_XRAY

    @property
    def unlike_training(self) -> bool:
        """Analysed, with a warning: a chest X-ray unlike the training films."""
        return self.verdict == OUT_OF_DISTRIBUTION

    @classmethod
    def from_dict(cls, data: dict | None) -> GuardVerdict | None:
        """A verdict stored with a prediction, read back (older records lack stage and frontal)."""
        if not data:
            return None
        known: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        known["overridden"] = bool(known["overridden"])
        known["colourfulness"] = float(known["colourfulness"] or 0.0)
        return cls(**known)

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("distance", "threshold", "familiarity_percentile"):
            if out[key] is not None:
                out[key] = round(float(out[key]), 3)
        out["colourfulness"] = round(float(out["colourfulness"]), 2)
        return out


@dataclass
class InputGuard:
    means: np.ndarray  # (classes, 512)
    precision: np.ndarray  # (512, 512), inverse of the shrunk shared covariance
    threshold: float
    val_quantiles: np.ndarray  # 101 quantiles of validation distances: for a readable percentile
    colour_limit: float = COLOUR_LIMIT
    meta: dict | None = None

    def distances(self, feats: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row to the nearest class mean."""
        feats = np.atleast_2d(np.asarray(feats, dtype=np.float64))
        diffs = feats[:, None, :] - self.means[None, :, :]  # (B, C, D)
        sq = ((diffs @ self.precision) * diffs).sum(axis=-1)  # a BLAS product; einsum's loop was 20× slower
        return np.sqrt(np.maximum(sq, 0.0)).min(axis=1)

    def familiarity(self, distance: float) -> float:
        """Percent of validation images that lie farther out than this one (100 = most typical)."""
        return float(100.0 - np.interp(distance, self.val_quantiles, np.linspace(0, 100, len(self.val_quantiles))))

    def check(self, feats: np.ndarray, colourfulness: float, frontal: FrontalVerdict | None = None) -> GuardVerdict:
        """Both stages; `frontal` is stage 1's verdict, None when no lung segmenter is installed."""
        distance = float(self.distances(feats)[0])
        familiar = self.familiarity(distance)
        far = distance > self.threshold
        far_figures = dict(distance=f"{distance:.1f}", limit=f"{self.threshold:.1f}", percentile=f"{self.percentile:g}")
        stage1 = frontal.to_dict() if frontal is not None else None
        if frontal is not None and not frontal.passed:
            verdict, stage, reason = NOT_CHEST_XRAY, 1, frontal.reason
        elif colourfulness > self.colour_limit:
            verdict, stage, reason = (
                NOT_CHEST_XRAY,
                1,
                COLOUR_REASON.format(colourfulness=f"{colourfulness:.0f}", limit=f"{self.colour_limit:.0f}"),
            )
        elif far and frontal is None:
            # No stage 1 to vouch that it is a chest X-ray at all: refuse as the single-stage guard did.
            verdict, stage, reason = (
                NOT_CHEST_XRAY,
                1,
                FAR_REASON.format(**far_figures),
            )
        elif far:
            verdict, stage, reason = (
                OUT_OF_DISTRIBUTION,
                2,
                UNLIKE_TRAINING_REASON.format(**far_figures),
            )
        else:
            verdict, stage, reason = IN_DISTRIBUTION, 2, FAMILIAR_REASON
        return GuardVerdict(
            verdict, reason, distance, self.threshold, colourfulness, familiar, stage=stage, frontal=stage1
        )

    @property
    def percentile(self) -> float:
        return float((self.meta or {}).get("percentile", DEFAULT_PERCENTILE))


def unchecked_verdict(colourfulness: float, why: str) -> GuardVerdict:
    return GuardVerdict(UNCHECKED, why, None, None, colourfulness, None)


def fit_guard(
    train_feats: np.ndarray, train_labels: np.ndarray, val_feats: np.ndarray, percentile: float = DEFAULT_PERCENTILE
) -> InputGuard:
    """Class means and shared Ledoit–Wolf covariance from training features; limit from validation."""
    from sklearn.covariance import LedoitWolf

    train_feats = np.asarray(train_feats, dtype=np.float64)
    train_labels = np.asarray(train_labels, dtype=int)
    classes = np.unique(train_labels)
    means = np.stack([train_feats[train_labels == c].mean(axis=0) for c in classes])
    centred = train_feats - means[np.searchsorted(classes, train_labels)]
    lw = LedoitWolf(assume_centered=True).fit(centred)
    guard = InputGuard(means=means, precision=lw.precision_, threshold=0.0, val_quantiles=np.zeros(101))
    val_d = guard.distances(val_feats)
    guard.threshold = float(np.percentile(val_d, percentile))
    guard.val_quantiles = np.percentile(val_d, np.linspace(0, 100, 101))
    guard.meta = {
        "method": "Mahalanobis distance to the nearest class mean, shared covariance (Ledoit–Wolf shrinkage)",
        "feature": FEATURE,
        "percentile": percentile,
        "threshold": guard.threshold,
        "shrinkage": float(lw.shrinkage_),
        "colour_limit": COLOUR_LIMIT,
        "n_train": int(len(train_feats)),
        "n_val": int(len(val_d)),
        "val_distance_median": float(np.median(val_d)),
    }
    return guard


def save_guard(guard: InputGuard, weights_dir: Path, classifier_sha256: str) -> dict:
    """Tensors to input_guard.safetensors; returns the JSON block for classifier.json."""
    from safetensors.numpy import save_file

    path = Path(weights_dir) / GUARD_FILE
    save_file(
        {
            "means": guard.means.astype(np.float32),
            "precision": guard.precision.astype(np.float32),
            "val_quantiles": guard.val_quantiles.astype(np.float32),
        },
        str(path),
        metadata={"classifier_sha256": classifier_sha256, "threshold": repr(guard.threshold)},
    )
    return {**(guard.meta or {}), "file": GUARD_FILE, "classifier_sha256": classifier_sha256}


def load_guard(weights_dir: Path, classifier_sha256: str | None) -> tuple[InputGuard | None, str]:
    """The guard fitted for exactly these weights, or None and why not."""
    from safetensors import safe_open

    path = Path(weights_dir) / GUARD_FILE
    if classifier_sha256 is None:
        return None, NO_MODEL_REASON
    if not path.is_file():
        return None, NO_GUARD_REASON
    with safe_open(str(path), framework="numpy") as fh:
        fitted_for = fh.metadata().get("classifier_sha256")
        if fitted_for != classifier_sha256:
            # A guard fitted on other weights measures distances in another feature space.
            return None, OTHER_WEIGHTS_REASON
        tensors = {k: fh.get_tensor(k).astype(np.float64) for k in fh.keys()}
        threshold = float(fh.metadata()["threshold"])
    meta_path = Path(weights_dir) / "classifier.json"
    meta = json.loads(meta_path.read_text()).get("input_guard") if meta_path.is_file() else None
    guard = InputGuard(
        tensors["means"],
        tensors["precision"],
        threshold,
        tensors["val_quantiles"],
        float((meta or {}).get("colour_limit", COLOUR_LIMIT)),
        meta,
    )
    return guard, "installed"


@torch.inference_mode()
def logits_and_features(
    model: torch.nn.Module, pixels: np.ndarray, batch_size: int = 32, progress: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) uint8 → raw logits (N, 2) and penultimate features (N, 512), one pass."""
    from core.imaging.preprocess import normalize
    from core.models.classifier import head_logits, trunk_features

    model.eval()
    logits, feats = [], []
    starts = range(0, len(pixels), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=progress, unit="batch", leave=False)
    for start in starts:
        x = normalize(torch.from_numpy(np.ascontiguousarray(pixels[start : start + batch_size]))[:, None])
        maps = trunk_features(model, x)
        logits.append(head_logits(model, maps).numpy())
        feats.append(penultimate(maps))
    if not logits:
        return np.zeros((0, 2), np.float32), np.zeros((0, 512))
    return np.concatenate(logits), np.concatenate(feats)
