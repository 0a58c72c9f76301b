"""Stability: max-sensitivity (Yeh, Hsieh, Suggala, Inouye, Ravikumar. On the (In)fidelity and
Sensitivity of Explanations. NeurIPS 2019) through Captum 0.9.0's `captum.metrics.sensitivity_max`.

    max over samples of ‖Φ(x + δ) − Φ(x)‖_F / ‖Φ(x)‖_F,   δ uniform in an L∞ ball of `radius`

0 = the map does not move at all; 1 = it moved by as much as its own size. The noise is drawn on
the grey picture (one value per pixel, repeated into the 3 identical channels, so the perturbed
input is still a radiograph the model could be shown) and `radius` is a fraction of the 0..1 grey
range (0.02 ≈ ±5 of 255 grey levels: invisible). Pixels stay in the valid range. A perturbation
must not change the prediction — the map of a different decision is not instability — so a draw
that flips the predicted label is redrawn (up to `max_tries` times) and, if every try flips, the
sample is discarded: it is replaced by the unperturbed input, which adds 0 to a maximum. The number
of flipped draws and of discarded samples are reported.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.metrics import sensitivity_max
from torchvision.models import ResNet

from core.explain.trust.maps import compute_maps
from core.imaging.preprocess import PIXEL_MEAN, PIXEL_STD

RADIUS = 0.02  # of the 0..1 grey range
SAMPLES = 4
MAX_TRIES = 5
LOW, HIGH = (0.0 - PIXEL_MEAN) / PIXEL_STD, (1.0 - PIXEL_MEAN) / PIXEL_STD  # the valid range after normalising


def decision_logodds(temperature: float = 1.0, threshold: float = 0.5) -> float:
    """The PNEUMONIA-minus-NORMAL logit difference at which a two-class model's label flips.

    P(pneumonia) = sigmoid((l1 − l0) / T) ≥ threshold  ⟺  l1 − l0 ≥ T · logit(threshold).
    """
    return float(temperature * np.log(threshold / (1.0 - threshold)))


def predicted_labels(logits: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Labels as the app assigns them: two classes by the decision margin, more by argmax."""
    if logits.shape[1] == 2:
        return ((logits[:, 1] - logits[:, 0]) >= margin).long()
    return logits.argmax(1)


def label_preserving_noise(model, radius: float, margin: float, seed: int, max_tries: int, counts: dict):
    """A Captum perturb_func: grey-level uniform noise whose draws keep the input's predicted label."""
    generator = torch.Generator().manual_seed(seed)
    scale = radius / PIXEL_STD  # the radius in normalised units

    def perturb(inputs: torch.Tensor, perturb_radius: float) -> torch.Tensor:
        del perturb_radius  # the radius is fixed above, in grey levels
        with torch.inference_mode():
            reference = predicted_labels(model(inputs[:1].contiguous(memory_format=torch.channels_last)), margin)
            out = inputs.detach().clone()
            pending = torch.ones(len(inputs), dtype=torch.bool)
            for _ in range(max_tries):
                index = pending.nonzero().flatten()
                if index.numel() == 0:
                    break
                h, w = inputs.shape[-2:]
                noise = (torch.rand((index.numel(), 1, h, w), generator=generator) * 2 - 1) * scale
                draw = (inputs[index] + noise).clamp(LOW, HIGH)
                labels = predicted_labels(model(draw.contiguous(memory_format=torch.channels_last)), margin)
                keep = labels == reference
                counts["flipped"] += int((~keep).sum())
                out[index[keep]] = draw[keep]
                pending[index[keep]] = False
            counts["discarded"] += int(pending.sum())  # left unperturbed: 0 sensitivity, no part in the max
        return out.contiguous(memory_format=torch.channels_last)

    return perturb


def max_sensitivity(
    model: ResNet,
    x: torch.Tensor,
    target: int,
    method: str,
    params: dict | None = None,
    radius: float = RADIUS,
    samples: int = SAMPLES,
    seed: int = 0,
    decision_margin: float = 0.0,
    max_tries: int = MAX_TRIES,
) -> dict:
    """Captum's sensitivity_max of one method's map for one (1, C, H, W) input.

    {"max_sensitivity", "radius", "samples", "flipped_draws", "discarded_samples"}; None as the value
    when every sample was discarded. Cost: `samples` maps plus one forward pass per draw.
    `params`: {method: {param: value}} as for explain.
    """
    if samples < 1:
        raise ValueError("samples must be at least 1")
    counts = {"flipped": 0, "discarded": 0}

    def explanation(inputs: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor]:
        if isinstance(inputs, tuple):  # Captum passes the unperturbed input as a 1-tuple
            inputs = inputs[0]
        maps = [
            compute_maps(model, inputs[i : i + 1], target, [method], params)[method].map for i in range(len(inputs))
        ]
        # A 1-tuple: sensitivity_max iterates over its unperturbed explanation as over a tuple of
        # inputs, so a bare tensor would be taken apart along its batch axis (and broadcast wrongly).
        return (torch.from_numpy(np.stack(maps))[:, None],)

    value = sensitivity_max(
        explanation,
        x.detach(),
        perturb_func=label_preserving_noise(model, radius, decision_margin, seed, max_tries, counts),
        perturb_radius=radius,
        n_perturb_samples=samples,
        max_examples_per_batch=samples,
    )
    return {
        "max_sensitivity": None if counts["discarded"] >= samples else round(float(value.reshape(-1)[0]), 4),
        "radius": radius,
        "samples": samples,
        "flipped_draws": counts["flipped"],
        "discarded_samples": counts["discarded"],
    }
