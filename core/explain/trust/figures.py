"""What the pages call: one method's trust figures for one image, its scrambled-model maps, the
committed summary, and the logit-based deletion/insertion of the Analyze page's Grad-CAM.

    from core.explain.trust import trust_figures, scrambled_maps, load_xai_eval, gradcam_deletion_insertion
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.models import ResNet

from core.explain.trust.benchmark import TrustSettings, image_trust
from core.explain.trust.faithfulness import STEPS, LogitsModel, deletion_insertion
from core.explain.trust.randomisation import (
    DEFAULT_SEED,
    LEVELS,
    VERDICT_LEVEL,
    RandomisationResult,
    cached_randomised_models,
    randomisation_check,
)
from core.explain.trust.road import DEFAULT_PERCENTILES
from core.explain.trust.stability import RADIUS

PAGE_LEVELS = ("fc", VERDICT_LEVEL)
PAGE_STABILITY_SAMPLES = 3


def trust_figures(
    model: ResNet,
    x: torch.Tensor,
    target: int,
    method: str,
    lung_mask: np.ndarray | None = None,
    params: dict | None = None,
    levels=PAGE_LEVELS,
    steps: int = STEPS,
    road_percentiles=DEFAULT_PERCENTILES,
    stability_samples: int = PAGE_STABILITY_SAMPLES,
    radius: float = RADIUS,
    decision_margin: float = 0.0,
    seed: int = DEFAULT_SEED,
) -> dict:
    """Every trust figure of ONE method (registry name or control) for one image, on request.

    `x` = to_model_input(gray224), `target` = class index, `lung_mask` = (224, 224) bool
    (ModelService.segmenter.segment, or an analysis's limits probe); `params` = {method: {...}}.
    The randomised models are cached per model (cached_randomised_models). Returns the method's
    entry of image_trust: ms, randomization_spearman/ssim {level: value}, randomization_verdict
    ('pass'/'fail') and its level, deletion_auc, insertion_auc, road and their *_random and
    *_vs_random, stability_max_sensitivity (+ samples, flipped draws), lung_share,
    agreement_gradcam; plus "lung_area". Cost for a fast method: its map (1 + levels + samples)
    times, 3 + 4·(steps − 1) forward passes and 6 ROAD imputations per percentile count: a few seconds.
    """
    settings = TrustSettings(
        levels=levels,
        steps=steps,
        road_percentiles=tuple(road_percentiles),
        stability_samples=stability_samples,
        radius=radius,
        seed=seed,
        params=dict(params or {}),
    )
    cascade = cached_randomised_models(model, settings.all_levels(), seed)
    record = image_trust(model, x, target, [method], lung_mask, settings, decision_margin, models=cascade)
    return {**record["methods"][method], "lung_area": record["lung_area"]}


def scrambled_maps(
    model: ResNet,
    x: torch.Tensor,
    target: int,
    method: str,
    levels=LEVELS,
    params: dict | None = None,
    seed: int = DEFAULT_SEED,
) -> RandomisationResult:
    """The "scrambled model" view: `.trained` map and `.maps[level]` after each cascade level, with
    `.spearman` / `.ssim` per level and `.verdict`. Cost: the method's map once per level (+ the
    cascade's copies the first time, ~85 MB each, cached per model)."""
    cascade = cached_randomised_models(model, levels, seed)
    return randomisation_check(model, x, target, method, levels, params, seed, models=cascade)


def gradcam_deletion_insertion(
    model: LogitsModel, x: torch.Tensor, target: int, cam224: np.ndarray, steps: int = STEPS, with_random: bool = True
) -> dict:
    """Logit-based deletion/insertion of the Analyze page's Grad-CAM (on the 224 grid), instead of the
    saturating probability-based figure; see faithfulness.deletion_insertion for the keys. Cost:
    3 + 2·(steps − 1) forward passes (33 at 16 steps), 62 more for the random twin."""
    return deletion_insertion(model, x, target, cam224, steps, with_random=with_random)
