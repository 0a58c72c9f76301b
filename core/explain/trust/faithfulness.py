"""Faithfulness on logits: deletion and insertion curves (Petsiuk, Das, Saenko. RISE. BMVC 2018) and ROAD.

The score is the TARGET LOG-ODDS, logit of the target minus logsumexp of the other logits (for
two classes: the difference of the logits; the temperature only rescales it). Probabilities
saturate — a film read at 99.9 % barely moves when half of it is hidden — log-odds do not.

- Deletion: the map's most relevant pixels (ranking.py: largest value first, ties in a fixed random
  order) are replaced by mean grey (0 after normalisation), in `steps` equal shares up to the
  whole image. A faithful map makes the evidence fall fast.
- Insertion: start from the image Gaussian-blurred (σ 12 px at 224: texture gone, exposure kept)
  and put back the most relevant pixels first. A faithful map makes the evidence return fast.
- Area: the trapezoid area, over the removed/inserted share 0..1, of the curve minus the image's own
  log-odds (the curve normalised to start, or end, at 0): log-odds units, one number per curve;
  deletion lower is better, insertion higher is better. Both end points are the same for every
  map of the image, so method minus random depends only on the order the map gives.
- Every map is compared with `random_maps` random maps of the same smoothness (Gaussian-filtered
  noise, controls.py; in a benchmark σ is rounded to a power of two so that maps of one
  smoothness share their random twins): `*_vs_random` = method − mean of the random maps
  (deletion: negative = better than random; insertion and ROAD: positive = better).
Note: on this model mean grey, blurred and noise images all read as PNEUMONIA (log-odds +3 to +8
on training films), so for PNEUMONIA targets the curves can rise towards their end point; the
comparison with the random map is the figure that says whether the map's order carries evidence.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from core.explain.methods.gradient import blurred_baseline
from core.explain.trust.controls import random_like, random_smooth_map, sigma_bucket, smoothness_sigma
from core.explain.trust.ranking import rank_positions
from core.explain.trust.road import DEFAULT_PERCENTILES, road_scores

STEPS = 16
BLUR_SIGMA = 12.0  # px at 224, as core.explain.limits and the blurred IG baseline
DELETION_FILL = 0.0  # mean grey: the value that normalises to 0, "no signal"
BATCH_SIZE = 32

# The curves need forward passes only: the torch module, or the prediction runtime called like it
# (core.models.runtime.RuntimeLogits).
LogitsModel = nn.Module | Callable[[torch.Tensor], torch.Tensor]


def target_logodds(logits: torch.Tensor, target: int) -> torch.Tensor:
    """(B, C) logits → (B,) log-odds of `target`: its logit minus logsumexp of the others."""
    others = torch.cat([logits[:, :target], logits[:, target + 1 :]], 1)
    return logits[:, target] - torch.logsumexp(others, 1)


def _forward_logodds(model: LogitsModel, images: Iterator[torch.Tensor], target: int, batch_size: int) -> np.ndarray:
    """Target log-odds of a stream of (C, H, W) images, `batch_size` at a time (never all in memory)."""
    out = []
    with torch.inference_mode():
        while chunk := list(itertools.islice(images, batch_size)):
            batch = torch.stack(chunk).contiguous(memory_format=torch.channels_last)
            out.append(target_logodds(model(batch), target).float().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _area(fractions: np.ndarray, curve: np.ndarray, origin: float) -> float:
    return float(np.trapezoid(curve - origin, fractions))


def curves(
    model: LogitsModel,
    x: torch.Tensor,
    target: int,
    maps: list[np.ndarray],
    steps: int = STEPS,
    blur_sigma: float = BLUR_SIGMA,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> tuple[np.ndarray, list[dict]]:
    """Deletion and insertion curves of each map of one (1, C, H, W) input, batched.

    Returns (fractions (steps + 1,), per map {"deletion", "insertion": (steps + 1,) log-odds,
    "deletion_auc", "insertion_auc"}). Forward passes: 3 + 2 · (steps − 1) · len(maps).
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    image = x.detach()[0]
    blurred = blurred_baseline(x, blur_sigma)[0]
    grey = torch.full_like(image, DELETION_FILL)
    n_pixels = image.shape[-2] * image.shape[-1]
    cuts = [round(k * n_pixels / steps) for k in range(1, steps)]

    def images() -> Iterator[torch.Tensor]:
        yield from (image, grey, blurred)
        for heat in maps:
            positions = torch.from_numpy(rank_positions(heat, seed))
            for cut in cuts:
                top = positions < cut
                yield torch.where(top, grey, image)
                yield torch.where(top, image, blurred)

    scores = _forward_logodds(model, images(), target, batch_size)
    start, deleted, blur_score = float(scores[0]), float(scores[1]), float(scores[2])
    fractions = np.linspace(0.0, 1.0, steps + 1)
    out = []
    for i in range(len(maps)):
        inner = scores[3 + 2 * (steps - 1) * i : 3 + 2 * (steps - 1) * (i + 1)]
        deletion = np.array([start, *inner[0::2], deleted], dtype=np.float64)
        insertion = np.array([blur_score, *inner[1::2], start], dtype=np.float64)
        out.append(
            {
                "deletion": deletion,
                "insertion": insertion,
                "deletion_auc": _area(fractions, deletion, start),
                "insertion_auc": _area(fractions, insertion, start),
            }
        )
    return fractions, out


def deletion_insertion(
    model: LogitsModel,
    x: torch.Tensor,
    target: int,
    heat: np.ndarray,
    steps: int = STEPS,
    with_random: bool = False,
    seed: int = 0,
) -> dict:
    """Logit-based deletion and insertion of ONE map (e.g. the Analyze page's Grad-CAM on the 224 grid).

    {"fractions", "deletion", "insertion" (lists, target log-odds), "deletion_auc", "insertion_auc",
    "image_logodds", "grey_logodds", "blurred_logodds"}; `with_random` adds the same for one random
    map of the same smoothness and the differences. Cost: 3 + 2·(steps − 1) forward passes in
    batches of 32 (33 at 16 steps; twice that with the random map), about a second on 2 CPU cores.
    """
    heat = np.asarray(heat, dtype=np.float32)
    maps = [heat, random_like(heat, seed)] if with_random else [heat]
    fractions, results = curves(model, x, target, maps, steps, seed=seed)
    r = results[0]
    out = {
        "fractions": [round(float(f), 4) for f in fractions],
        "deletion": [round(float(v), 4) for v in r["deletion"]],
        "insertion": [round(float(v), 4) for v in r["insertion"]],
        "deletion_auc": round(r["deletion_auc"], 4),
        "insertion_auc": round(r["insertion_auc"], 4),
        "image_logodds": round(float(r["deletion"][0]), 4),
        "grey_logodds": round(float(r["deletion"][-1]), 4),
        "blurred_logodds": round(float(r["insertion"][0]), 4),
        "steps": steps,
    }
    if with_random:
        rnd = results[1]
        out.update(
            random_deletion=[round(float(v), 4) for v in rnd["deletion"]],
            random_insertion=[round(float(v), 4) for v in rnd["insertion"]],
            deletion_auc_random=round(rnd["deletion_auc"], 4),
            insertion_auc_random=round(rnd["insertion_auc"], 4),
            deletion_vs_random=round(r["deletion_auc"] - rnd["deletion_auc"], 4),
            insertion_vs_random=round(r["insertion_auc"] - rnd["insertion_auc"], 4),
        )
    return out


def random_seed(seed: int, name: str, draw: int) -> int:
    """A fixed seed per (run seed, method name, draw): the same random maps on every run."""
    return (seed * 1_000_003 + zlib.crc32(name.encode()) + 7_919 * draw) % 2**32


def faithfulness(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    maps: dict[str, np.ndarray],
    steps: int = STEPS,
    random_maps: int = 1,
    road_percentiles=DEFAULT_PERCENTILES,
    seed: int = 0,
) -> dict[str, dict]:
    """Deletion, insertion and ROAD of each named map and of random maps of its smoothness, in shared batches.

    The random twins: `random_maps` draws per smoothness bucket (controls.sigma_bucket: σ to the
    nearest power of two), shared by the maps of this image that fall in the same bucket.
    Per name: deletion_auc, insertion_auc, road, their *_random (mean over the random maps) and
    *_vs_random (method − random), random_sigma (the map's σ, px), random_sigma_bucket, road_morf /
    road_lerf ({percentile: log-odds}). `road_percentiles` empty skips ROAD (its None values say so).
    """
    names = list(maps)
    sigmas = {n: smoothness_sigma(maps[n]) for n in names}
    buckets = sorted({sigma_bucket(sigmas[n]) for n in names})
    shape = np.shape(maps[names[0]]) if names else (0, 0)
    randoms = [
        random_smooth_map(shape, b, random_seed(seed, f"sigma-{b:g}", j)) for b in buckets for j in range(random_maps)
    ]
    every = [maps[n] for n in names] + randoms
    _, results = curves(model, x, target, every, steps, seed=seed)
    road: list[dict | None] = (
        list(road_scores(model, x, target, every, road_percentiles, seed)) if road_percentiles else [None] * len(every)
    )
    out: dict[str, dict] = {}
    for i, name in enumerate(names):
        b = buckets.index(sigma_bucket(sigmas[name]))
        own = slice(len(names) + b * random_maps, len(names) + (b + 1) * random_maps)
        rnd, rnd_road, own_road = results[own], [r for r in road[own] if r is not None], road[i]
        entry = {
            "deletion_auc": results[i]["deletion_auc"],
            "insertion_auc": results[i]["insertion_auc"],
            "deletion_auc_random": float(np.mean([r["deletion_auc"] for r in rnd])) if rnd else None,
            "insertion_auc_random": float(np.mean([r["insertion_auc"] for r in rnd])) if rnd else None,
            "road": own_road["road"] if own_road else None,
            "road_random": float(np.mean([r["road"] for r in rnd_road])) if rnd_road else None,
            "road_morf": own_road["morf"] if own_road else None,
            "road_lerf": own_road["lerf"] if own_road else None,
            "random_sigma": round(sigmas[name], 2),
            "random_sigma_bucket": sigma_bucket(sigmas[name]),
        }
        for key in ("deletion_auc", "insertion_auc", "road"):
            mine, base = entry[key], entry[f"{key}_random"]
            entry[f"{key.removesuffix('_auc')}_vs_random"] = None if mine is None or base is None else mine - base
        out[name] = entry
    return out
