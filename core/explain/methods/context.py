"""What one explanation method is handed: the input, the target, its parameters, and a watched model.

Every forward pass a library makes goes through `forward` (the shared model, no hooks) or a
`watched` private copy, which count the images seen, for progress, and check the caller's cancel
request, so that even a single slow library call (Score-CAM's 512 masked passes, occlusion, LIME)
stops within one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torchvision.models import ResNet

from core.explain.methods.copies import forget_copy, private_copy


class Cancelled(Exception):
    """The caller's cancel check returned True; no result is returned for the method that was running."""


class Watched(nn.Module):
    """A module that reports each batch before running the wrapped model (which stays a child: hooks see it)."""

    def __init__(self, model: nn.Module, on_batch: Callable[[int], None]):
        super().__init__()
        self.model = model
        self._on_batch = on_batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._on_batch(int(x.shape[0]))
        return self.model(x)


@dataclass
class MethodRun:
    model: ResNet  # the caller's model: forward passes only, never hooked or changed
    x: torch.Tensor  # (1, 3, H, W) model input
    target: int  # class index whose logit is explained
    params: dict
    on_batch: Callable[[int], None] = field(default=lambda n: None)

    @property
    def grid(self) -> tuple[int, int]:
        return int(self.x.shape[-2]), int(self.x.shape[-1])

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """The shared model's logits, counted and cancellable (Captum's `forward_func` for hook-free methods)."""
        self.on_batch(int(batch.shape[0]))
        return self.model(batch)

    def watched(self, module: nn.Module) -> Watched:
        return Watched(module, self.on_batch)

    @contextmanager
    def private(self, kind: str) -> Iterator[nn.Module]:
        """A cached private copy (see copies.py), locked for this run; dropped if the library call fails."""
        entry = private_copy(self.model, kind)
        with entry.lock:
            try:
                yield entry.model
            except BaseException:
                forget_copy(self.model, kind)
                raise


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's and NumPy's global generators for one stochastic library call, then restore them.

    Captum draws from both (GradientSHAP picks baselines and path points with np.random). They are
    process-wide: two seeded calls in parallel threads could interleave draws, so a stochastic map
    is reproducible for one caller at a time.
    """
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
