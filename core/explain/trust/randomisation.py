"""Model-randomisation sanity check (Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. NeurIPS 2018).

An explanation of *the model* must change when the model's learnt weights are destroyed. The
cascade re-initialises the network from the top, one block more at each level, cumulatively:

    fc → layer4 → layer3 → layer2 → layer1 → conv1 (with bn1): at "conv1" every weight is random.

Each level is a deep copy (the caller's model is never touched). A block is re-initialised with
each module's own `reset_parameters()` under a fixed seed (seed + the block's index, so a level's
weights are the same whichever levels are asked for). For BatchNorm that is
`reset_running_stats()` plus γ = 1, β = 0: running mean 0 and variance 1, so a re-initialised
BatchNorm is the identity in eval mode and never rescales with statistics learnt for the trained
weights it no longer sees; a re-initialised Linear or Conv2d gets PyTorch's default Kaiming-uniform
weights (and bias). Blocks below the level keep their trained weights and statistics.

A map is compared with the trained model's map of the same image and target by Spearman's ρ of
the absolute maps and SSIM of the absolute maps scaled to 0..1 (similarity.py).

VERDICT (one rule, stated here): a method PASSES on an image if Spearman's ρ between its trained
map and its map after randomising fc + layer4 (level "layer4") is below 0.5; over a set of images
it passes if the mean ρ at that level is below 0.5. If "layer4" was not computed, the deepest
level that was is used and named in the result. Why: once the classifier head and the whole last
stage carry no learnt weight, nothing the model learnt about pneumonia reaches the output, so a
map that still ranks the pixels much as before is driven by the image (edges, exposure) and the
architecture rather than by the model. ρ = 0.5 is halfway between "unrelated" and "identical"
(ρ² = 0.25: at most a quarter of the rank variation shared). The rule was fixed from this
reasoning before any test image was seen; the Sobel control (ρ = 1 by construction) must fail it.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchvision.models import ResNet

from core.explain.methods.reduce import NonFiniteMap
from core.explain.trust.maps import compute_maps
from core.explain.trust.similarity import spearman_abs, ssim_abs

LEVELS = ("fc", "layer4", "layer3", "layer2", "layer1", "conv1")
BLOCKS = {
    "fc": ("fc",),
    "layer4": ("layer4",),
    "layer3": ("layer3",),
    "layer2": ("layer2",),
    "layer1": ("layer1",),
    "conv1": ("conv1", "bn1"),
}
LEVEL_TITLES = {
    "fc": "fc",
    "layer4": "fc + layer4",
    "layer3": "… + layer3",
    "layer2": "… + layer2",
    "layer1": "… + layer1",
    "conv1": "all (… + conv1, bn1)",
}
VERDICT_LEVEL = "layer4"
VERDICT_THRESHOLD = 0.5
VERDICT_RULE = (
    f"PASS if Spearman's rho of |map| between the trained model and the model with fc + layer4 re-initialised "
    f"(level '{VERDICT_LEVEL}', cascading from the top) is below {VERDICT_THRESHOLD}; over images, the mean rho; "
    "without that level, the deepest level computed"
)
DEFAULT_SEED = 0


def check_levels(levels) -> tuple[str, ...]:
    """Levels in cascade order; 'all' or a comma-separated string accepted; unknown names raise."""
    names = list(LEVELS) if levels == "all" else (levels.split(",") if isinstance(levels, str) else list(levels))
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in LEVELS]
    if unknown:
        raise ValueError(f"unknown randomisation level(s) {', '.join(unknown)}; the cascade is {', '.join(LEVELS)}")
    if not names:
        raise ValueError("no randomisation level named")
    return tuple(n for n in LEVELS if n in names)


def reinitialise_block(model: nn.Module, level: str, seed: int = DEFAULT_SEED) -> None:
    """Re-initialise one cascade block of `model` IN PLACE (only ever called on a copy)."""
    index = LEVELS.index(level)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed + index)
        for name in BLOCKS[level]:
            for module in getattr(model, name).modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()  # BatchNorm: running stats too (reset_running_stats)


def randomised_models(model: ResNet, levels=LEVELS, seed: int = DEFAULT_SEED) -> dict[str, ResNet]:
    """{level: deep copy of `model` with every block from fc down to that level re-initialised}.

    The copies keep the model's eval mode, memory format and requires_grad flags.
    """
    wanted = check_levels(levels)
    work = copy.deepcopy(model)
    out: dict[str, ResNet] = {}
    for level in LEVELS[: LEVELS.index(wanted[-1]) + 1]:
        reinitialise_block(work, level, seed)
        if level in wanted:
            out[level] = work if level == wanted[-1] else copy.deepcopy(work)
    return out


def _weights_version(model: nn.Module) -> tuple[int, ...]:
    return tuple(t._version for t in model.state_dict().values())


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, dict[str, ResNet]]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def cached_randomised_models(model: ResNet, levels=LEVELS, seed: int = DEFAULT_SEED) -> dict[str, ResNet]:
    """randomised_models, kept for the last (levels, seed) asked of this model (rebuilt if its weights change).

    For the app: one cascade per model in memory (a ResNet34 copy is about 85 MB per level).
    """
    key = (check_levels(levels), int(seed), _weights_version(model))
    with _CACHE_LOCK:
        hit = _CACHE.get(model)
        if hit is not None and hit[0] == key:
            return hit[1]
    built = randomised_models(model, key[0], seed)
    with _CACHE_LOCK:
        _CACHE[model] = (key, built)
    return built


def verdict_level(levels) -> str:
    """The level the verdict reads: VERDICT_LEVEL if computed, else the deepest computed."""
    levels = [level for level in LEVELS if level in set(levels)]
    return VERDICT_LEVEL if VERDICT_LEVEL in levels else levels[-1]


def verdict(spearman_at_level: float | None) -> str | None:
    """'pass' / 'fail' for a Spearman ρ at the verdict level (None: not measured)."""
    if spearman_at_level is None or not np.isfinite(spearman_at_level):
        return None
    return "pass" if spearman_at_level < VERDICT_THRESHOLD else "fail"


@dataclass(frozen=True)
class RandomisationResult:
    method: str
    trained: np.ndarray  # (H, W) map of the trained model
    maps: dict[str, np.ndarray | None]  # level → map of the randomised model (None: not finite)
    spearman: dict[str, float | None]  # level → ρ of |trained| and |randomised|
    ssim: dict[str, float | None]
    verdict_level: str
    verdict: str | None  # 'pass' / 'fail'

    def to_dict(self) -> dict:
        return {
            "randomization_spearman": self.spearman,
            "randomization_ssim": self.ssim,
            "randomization_verdict_level": self.verdict_level,
            "randomization_verdict": self.verdict,
        }


def similarity_by_level(trained: np.ndarray, maps: dict[str, np.ndarray | None]) -> tuple[dict, dict]:
    spearman = {k: None if m is None else round(spearman_abs(trained, m), 4) for k, m in maps.items()}
    ssim = {k: None if m is None else round(ssim_abs(trained, m), 4) for k, m in maps.items()}
    return spearman, ssim


def randomised_maps(
    models: dict[str, ResNet], x: torch.Tensor, target: int, names: list[str], params: dict | None = None
) -> dict[str, dict[str, np.ndarray | None]]:
    """{method: {level: map}} on each randomised model; a map that is not finite (NaN/inf) is None."""
    out: dict[str, dict[str, np.ndarray | None]] = {n: {} for n in names}
    for level, randomised in models.items():
        for name in names:
            try:
                out[name][level] = compute_maps(randomised, x, target, [name], params)[name].map
            except NonFiniteMap:
                out[name][level] = None
    return out


def randomisation_check(
    model: ResNet,
    x: torch.Tensor,
    target: int,
    method: str,
    levels=LEVELS,
    params: dict | None = None,
    seed: int = DEFAULT_SEED,
    trained: np.ndarray | None = None,
    models: dict[str, ResNet] | None = None,
) -> RandomisationResult:
    """The sanity check of one method on one image: the trained and randomised maps, ρ, SSIM and verdict.

    `params`: {method: {param: value}} as for explain; `trained` skips recomputing the trained map;
    `models` reuses a cascade (randomised_models / cached_randomised_models) built for these levels.
    This is also what the "scrambled model" view shows: `.trained` next to `.maps[level]`.
    """
    levels = check_levels(levels)
    if trained is None:
        trained = compute_maps(model, x, target, [method], params)[method].map
    cascade = models if models is not None else randomised_models(model, levels, seed)
    missing = [level for level in levels if level not in cascade]
    if missing:
        raise ValueError(f"the randomised models given lack level(s) {missing}")
    maps = randomised_maps({level: cascade[level] for level in levels}, x, target, [method], params)[method]
    spearman, ssim = similarity_by_level(trained, maps)
    level = verdict_level(levels)
    return RandomisationResult(method, trained, maps, spearman, ssim, level, verdict(spearman[level]))
