"""`explain`: run registry methods on one model input, with progress and cancellation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.models import ResNet

from core.explain.methods.context import Cancelled, MethodRun
from core.explain.methods.copies import private_copy
from core.explain.methods.reduce import finite
from core.explain.methods.registry import METHODS, Method, method_names

Progress = Callable[[float], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class MethodResult:
    name: str
    map: np.ndarray  # (H, W) float32 on the model-input grid, finite
    ms: float  # wall time of this method alone
    params: dict  # the parameters it ran with (defaults and overrides)
    signed: bool  # True: positive = evidence for the target, negative = against


def check_inputs(model: ResNet, x: torch.Tensor, target: int) -> None:
    if model.training:
        raise ValueError("the model is in training mode; explanations are of the eval-mode model (call model.eval())")
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one model input of shape (1, C, H, W), got {tuple(x.shape)}")
    n_classes = int(model.fc.out_features)
    if not 0 <= int(target) < n_classes:
        raise ValueError(f"target {target} is not a class index 0..{n_classes - 1}")


class Tracker:
    """Turns images seen per method into an overall fraction, weighted by each method's expected cost."""

    def __init__(self, costs: list[float], progress: Progress | None, cancel: CancelCheck | None):
        self.costs, self.progress, self.cancel = costs, progress, cancel
        self.total = sum(costs) or 1.0
        self.done = 0.0
        self.index = 0
        self.images_expected = 1
        self.images_seen = 0
        self.last = 0.0

    def check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("explanation cancelled")

    def start(self, index: int, images_expected: int) -> None:
        self.check()
        self.index, self.images_expected, self.images_seen = index, max(images_expected, 1), 0

    def on_batch(self, n_images: int) -> None:
        self.check()
        self.images_seen += n_images
        within = min(self.images_seen / self.images_expected, 1.0)
        self._report(self.done + within * self.costs[self.index])

    def finish(self) -> None:
        self.done += self.costs[self.index]
        self._report(self.done)

    def _report(self, done: float) -> None:
        fraction = min(done / self.total, 1.0)
        if self.progress is not None and fraction >= self.last:  # never backwards
            self.last = fraction
            self.progress(fraction)


def plan(model: ResNet, x: torch.Tensor, target: int, methods, params: dict | None) -> list[tuple[Method, MethodRun]]:
    """Resolve names and parameters up front, so a typo fails before any slow method starts."""
    params = params or {}
    names = method_names(methods)
    stray = set(params) - set(names)
    if stray:
        raise ValueError(f"parameters given for method(s) not run: {sorted(stray)}")
    # Each run gets its own detached view: Captum flips requires_grad on its inputs (and leaves it set
    # if a call is cancelled), which must not reach the caller's tensor.
    return [(METHODS[n], MethodRun(model, x.detach(), int(target), METHODS[n].params(params.get(n)))) for n in names]


def explain(
    model: ResNet,
    x: torch.Tensor,
    target: int,
    methods="all",
    params: dict | None = None,
    progress: Progress | None = None,
    cancel: CancelCheck | None = None,
) -> dict[str, MethodResult]:
    """Maps of `target`'s logit for one (1, 3, H, W) input (core.imaging.preprocess.to_model_input).

    `methods`: registry names (list or comma-separated) or "all"; `params`: {method: {param: value}}
    overrides. `progress(fraction)` is called as work is done and ends at 1.0; `cancel()` is checked
    before every forward pass, and True raises Cancelled. Each method runs through its own library
    call; `gradient_set` shares passes between the gradient methods. The model is not changed.
    """
    check_inputs(model, x, target)
    runs = plan(model, x, target, methods, params)
    for kind in {m.private for m, _ in runs if m.private is not None}:
        private_copy(model, kind)  # made (once) before timing starts: `ms` is the method's own time
    tracker = Tracker([m.cost(run.params, run) for m, run in runs], progress, cancel)
    results: dict[str, MethodResult] = {}
    for index, (method, run) in enumerate(runs):
        tracker.start(index, method.images(run.params, run))
        run.on_batch = tracker.on_batch
        # Forward-only methods build no autograd graph; the others need one even inside a caller's no_grad.
        grad_mode = torch.enable_grad() if method.backward else torch.no_grad()
        t0 = time.perf_counter()
        with grad_mode:
            heat = method.compute(run)
        ms = (time.perf_counter() - t0) * 1000
        results[method.name] = MethodResult(
            method.name, finite(method.name, heat), round(ms, 1), dict(run.params), method.signed
        )
        tracker.finish()
    return results
