"""Every trust test on one image at a time, and their summary over images with bootstrap intervals.

`image_trust` runs, for each method (registry methods and controls) on one model input:
randomisation (Spearman and SSIM per cascade level, verdict), faithfulness on logits (deletion,
insertion, ROAD, each also against a random map of the same smoothness), stability
(max-sensitivity), in-lung share and agreement with Grad-CAM. `aggregate` turns a list of those
records into per-method means with 95 % percentile-bootstrap intervals over images (numpy,
1000 resamples, fixed seed). All the expensive knobs are fields of `TrustSettings`.
`core.evaluation.xai_eval` runs it over a folder (`python -m core xai-eval`) and writes the
summary that `load_xai_eval` reads back (weights/xai_eval.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torchvision.models import ResNet

from core.explain.trust.faithfulness import STEPS, faithfulness
from core.explain.trust.localisation import REFERENCE_METHOD, agreement, lung_area, lung_share
from core.explain.trust.maps import compute_maps, family, is_slow
from core.explain.trust.randomisation import (
    DEFAULT_SEED,
    LEVELS,
    VERDICT_RULE,
    check_levels,
    randomised_maps,
    randomised_models,
    similarity_by_level,
    verdict,
    verdict_level,
)
from core.explain.trust.road import DEFAULT_PERCENTILES
from core.explain.trust.stability import RADIUS, SAMPLES, max_sensitivity
from core.models.weights import default_weights_dir

XAI_EVAL_FILE = "xai_eval.json"
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
FIGURES = (
    "deletion_auc",
    "deletion_vs_random",
    "insertion_auc",
    "insertion_vs_random",
    "road",
    "road_vs_random",
    "stability_max_sensitivity",
    "lung_share",
    "agreement_gradcam",
    "ms",
)


@dataclass(frozen=True)
class TrustSettings:
    """The knobs of every trust test. `slow_*`: for the registry's slow methods (None: as the others)."""

    levels: tuple[str, ...] = LEVELS
    slow_levels: tuple[str, ...] | None = None
    steps: int = STEPS
    random_maps: int = 1
    road_percentiles: tuple[int, ...] = DEFAULT_PERCENTILES
    stability_samples: int = SAMPLES
    slow_stability_samples: int | None = None
    radius: float = RADIUS
    seed: int = DEFAULT_SEED
    params: dict = field(default_factory=dict)  # {method: {param: value}} overrides

    def __post_init__(self):
        object.__setattr__(self, "levels", check_levels(self.levels))
        if self.slow_levels is not None:
            object.__setattr__(self, "slow_levels", check_levels(self.slow_levels))
        object.__setattr__(self, "road_percentiles", tuple(int(p) for p in self.road_percentiles))

    def levels_for(self, name: str) -> tuple[str, ...]:
        return self.slow_levels if is_slow(name) and self.slow_levels is not None else self.levels

    def samples_for(self, name: str) -> int:
        slow = is_slow(name) and self.slow_stability_samples is not None
        return int(self.slow_stability_samples if slow else self.stability_samples)  # type: ignore[arg-type]

    def all_levels(self) -> tuple[str, ...]:
        return check_levels([*self.levels, *(self.slow_levels or ())])

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict_rule": VERDICT_RULE}


def image_trust(
    model: ResNet,
    x: torch.Tensor,
    target: int,
    names: list[str],
    lung_mask: np.ndarray | None = None,
    settings: TrustSettings | None = None,
    decision_margin: float = 0.0,
    models: dict[str, ResNet] | None = None,
    seed: int | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict:
    """Every trust figure of each of `names` for one (1, C, H, W) input and target class.

    `models`: a randomised cascade covering settings.all_levels() (built here if None); `seed`:
    this image's seed for random maps, tie-breaks and noise (default settings.seed);
    `decision_margin`: stability.decision_logodds of the app's threshold. Returns
    {"target", "lung_area", "methods": {name: {...figures...}}, "agreement": {"names", "matrix"}}.
    """
    settings = settings or TrustSettings()
    seed = settings.seed if seed is None else seed
    stage = on_stage or (lambda _name: None)
    with_reference = list(dict.fromkeys([*names, REFERENCE_METHOD]))
    stage("maps")
    trained = compute_maps(model, x, target, with_reference, settings.params)
    methods: dict[str, dict] = {
        n: {"family": family(n), "signed": trained[n].signed, "ms": trained[n].ms} for n in names
    }
    stage("randomisation")
    cascade = models if models is not None else randomised_models(model, settings.all_levels(), settings.seed)
    for name in names:
        levels = settings.levels_for(name)
        scrambled = randomised_maps({lv: cascade[lv] for lv in levels}, x, target, [name], settings.params)[name]
        spearman, ssim = similarity_by_level(trained[name].map, scrambled)
        level = verdict_level(levels)
        methods[name].update(
            randomization_spearman=spearman,
            randomization_ssim=ssim,
            randomization_verdict_level=level,
            randomization_verdict=verdict(spearman[level]),
        )
    stage("faithfulness")
    faithful = faithfulness(
        model,
        x,
        target,
        {n: trained[n].map for n in names},
        settings.steps,
        settings.random_maps,
        settings.road_percentiles,
        seed,
    )
    for name in names:
        methods[name].update(faithful[name])
    stage("stability")
    for name in names:
        s = max_sensitivity(
            model,
            x,
            target,
            name,
            settings.params,
            settings.radius,
            settings.samples_for(name),
            seed,
            decision_margin,
        )
        methods[name].update(
            stability_max_sensitivity=s["max_sensitivity"],
            stability_samples=s["samples"],
            stability_flipped_draws=s["flipped_draws"],
            stability_discarded_samples=s["discarded_samples"],
        )
    stage("localisation")
    order, matrix = agreement({n: trained[n].map for n in with_reference})
    reference = order.index(REFERENCE_METHOD)
    for i, name in enumerate(order[: len(names)]):
        methods[name].update(
            lung_share=lung_share(trained[name].map, lung_mask), agreement_gradcam=round(float(matrix[i, reference]), 4)
        )
    keep = [order.index(n) for n in names]
    return {
        "target": int(target),
        "lung_area": lung_area(lung_mask),
        "methods": methods,
        "agreement": {"names": list(names), "matrix": np.round(matrix[np.ix_(keep, keep)], 4).tolist()},
    }


# ---------- summary over images ---------------------------------------------------------------


def bootstrap_ci(
    values, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED, confidence: float = 0.95
) -> dict:
    """Mean and percentile-bootstrap interval of the mean over the finite values (None/NaN dropped).

    {"mean", "ci95": [low, high], "n"}; n = 0 gives None for both, n = 1 an interval of zero width.
    """
    data = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if data.size == 0:
        return {"mean": None, "ci95": None, "n": 0}
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_resamples, data.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    mean = float(data.mean())
    return {"mean": round(mean, 4), "ci95": [round(float(low), 4), round(float(high), 4)], "n": int(data.size)}


def aggregate(records: list[dict], names: list[str], n_resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """Per-method summary of image_trust records: {"methods": {...}, "agreement_spearman", "lung_area"}."""
    methods: dict[str, dict] = {}
    for name in names:
        rows = [r["methods"][name] for r in records if name in r["methods"]]
        if not rows:
            continue
        levels = [lv for lv in LEVELS if lv in rows[0]["randomization_spearman"]]
        level = rows[0]["randomization_verdict_level"]
        spearman = {lv: bootstrap_ci([r["randomization_spearman"][lv] for r in rows], n_resamples) for lv in levels}
        entry = {
            "family": rows[0]["family"],
            "control": rows[0]["family"] == "control",
            "randomization_spearman": spearman,
            "randomization_ssim": {
                lv: bootstrap_ci([r["randomization_ssim"][lv] for r in rows], n_resamples) for lv in levels
            },
            "randomization_verdict_level": level,
            "randomization_verdict": verdict(spearman[level]["mean"]),
            "randomization_pass_rate": round(float(np.mean([r["randomization_verdict"] == "pass" for r in rows])), 4),
        }
        for key in FIGURES:
            entry[key] = bootstrap_ci([r[key] for r in rows], n_resamples)
        entry["ms_median"] = round(float(np.median([r["ms"] for r in rows])), 1)
        entry["stability_flipped_draws"] = int(sum(r["stability_flipped_draws"] for r in rows))
        entry["stability_discarded_samples"] = int(sum(r["stability_discarded_samples"] for r in rows))
        entry["stability_samples"] = int(rows[0]["stability_samples"])
        entry["random_sigma_median"] = round(float(np.median([r["random_sigma"] for r in rows])), 2)
        entry["n_images"] = len(rows)
        methods[name] = entry
    index = {n: i for i, n in enumerate(names)}
    total, count = np.zeros((len(names), len(names))), np.zeros((len(names), len(names)))
    for r in records:  # pairs averaged over the images on which both methods ran
        rows = [index[n] for n in r["agreement"]["names"] if n in index]
        keep = [i for i, n in enumerate(r["agreement"]["names"]) if n in index]
        total[np.ix_(rows, rows)] += np.asarray(r["agreement"]["matrix"])[np.ix_(keep, keep)]
        count[np.ix_(rows, rows)] += 1
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return {
        "methods": methods,
        "agreement_spearman": {
            "methods": list(names),
            "mean_matrix": [[None if np.isnan(v) else round(float(v), 4) for v in row] for row in mean],
        },
        "lung_area": bootstrap_ci([r["lung_area"] for r in records], n_resamples),
    }


def load_xai_eval(weights_dir: Path | None = None, model_version: str | None = None) -> dict | None:
    """The committed summary (weights/xai_eval.json), or None if there is none.

    With `model_version`, the result carries "stale": True when it was measured on other weights.
    """
    path = Path(weights_dir or default_weights_dir()) / XAI_EVAL_FILE
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    if model_version is not None:
        report["stale"] = report.get("model_version") != model_version
    return report


def summary_rows(report: dict) -> list[dict]:
    """One flat row per method of an xai-eval report (means only): for tables on a page."""
    rows = []
    for name, m in report["methods"].items():
        level = m["randomization_verdict_level"]
        row = {
            "method": name,
            "family": m["family"],
            "control": m["control"],
            "randomization_verdict": m["randomization_verdict"],
            f"randomization_spearman_{level}": m["randomization_spearman"][level]["mean"],
        }
        row.update({key: m[key]["mean"] for key in FIGURES})
        rows.append(row)
    return rows
