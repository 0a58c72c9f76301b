"""`gradient_set`: the gradient-based maps of one image, with passes shared where that is exact.

- saliency, input × gradient and the Grad-CAM that guided Grad-CAM needs come from ONE forward and
  backward pass: Captum's Saliency(abs=False) gives the raw gradient g, |g| is Saliency and x·g is
  InputXGradient (what those classes compute), and the forward keeps layer4's features, from
  which Grad-CAM follows without a backward pass (core.explain.gradcam);
- guided Grad-CAM is guided backpropagation times the upsampled ReLU'd Grad-CAM, exactly how
  Captum's GuidedGradCam combines them (LayerAttribution.interpolate), so one guided pass serves both;
- both integrated-gradients maps (black and blurred baselines) are one Captum call on a batch of
  two, whose steps go through the model internal_batch_size images at a time (the same batch size
  as one map alone, so twice as many batches: larger batches are slower on this CPU);
- SmoothGrad's noisy samples and GradientSHAP's samples are one batch each; DeepLIFT, LRP and
  Grad-CAM++ are one library call each.
Every map is tested equal to the registry method's own library call (`explain`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from captum.attr import GuidedBackprop, IntegratedGradients, LayerAttribution, Saliency
from torchvision.models import ResNet

from core.explain.gradcam import fast_gradcam
from core.explain.methods import activation, gradient
from core.explain.methods.context import MethodRun
from core.explain.methods.copies import private_copy
from core.explain.methods.reduce import abs_channel_sum, finite, signed_channel_sum
from core.explain.methods.registry import METHODS, Method
from core.explain.methods.runner import CancelCheck, MethodResult, Progress, Tracker, check_inputs, plan

GRADIENT_SET = (
    "saliency",
    "input_x_gradient",
    "smoothgrad",
    "integrated_gradients",
    "integrated_gradients_blur",
    "deeplift",
    "gradient_shap",
    "guided_backprop",
    "guided_gradcam",
    "lrp",
    "gradcam_pp",
)


@dataclass
class Job:
    names: tuple[str, ...]  # the maps this job produces
    images: int  # images it passes through the model (progress)
    compute: Callable[[], dict[str, np.ndarray]]


def _gradient_pass(run: MethodRun, store: dict) -> dict[str, np.ndarray]:
    def forward(batch: torch.Tensor) -> torch.Tensor:
        logits, store["features"] = activation.logits_and_features(run, batch)
        return logits

    grad = Saliency(forward).attribute(run.x, target=run.target, abs=False)
    return {"saliency": abs_channel_sum(grad.abs()), "input_x_gradient": signed_channel_sum(run.x * grad)}


def _guided_pass(run: MethodRun, store: dict, interpolate_mode: str) -> dict[str, np.ndarray]:
    with run.private("hookable") as twin:
        guided = GuidedBackprop(run.watched(twin)).attribute(run.x, target=run.target)
    out = {"guided_backprop": abs_channel_sum(guided)}
    if interpolate_mode:
        features = store.get("features")
        if features is None:  # saliency was not asked for: one forward pass for layer4
            with torch.no_grad():
                _, features = activation.logits_and_features(run, run.x)
        cam = fast_gradcam(features.detach(), run.model.fc.weight, torch.tensor([run.target]))[:, None]
        upsampled = LayerAttribution.interpolate(cam, tuple(run.x.shape[2:]), interpolate_mode)
        out["guided_gradcam"] = abs_channel_sum(guided * upsampled)
    return out


def _both_integrated_gradients(run: MethodRun, black: dict, blur: dict) -> dict[str, np.ndarray]:
    baselines = torch.cat(
        [
            gradient.baseline(run.x, str(black["baseline"]), float(black["blur_sigma"])),
            gradient.baseline(run.x, str(blur["baseline"]), float(blur["blur_sigma"])),
        ]
    )
    attribution = IntegratedGradients(run.forward).attribute(
        torch.cat([run.x, run.x]),
        baselines=baselines,
        target=run.target,
        n_steps=int(black["steps"]),
        method=str(black["method"]),
        # internal_batch_size counts images, so each batch holds half as many steps of each of the two;
        # on 2 CPU cores batches of 16 images beat 32 or 64 (measured: 2.2 s for the pair vs 2 × 1.28 s)
        internal_batch_size=int(black["internal_batch_size"]),
    )
    return {
        "integrated_gradients": signed_channel_sum(attribution[:1]),
        "integrated_gradients_blur": signed_channel_sum(attribution[1:]),
    }


def _single(method: Method, run: MethodRun) -> dict[str, np.ndarray]:
    return {method.name: method.compute(run)}


def _jobs(runs: dict[str, MethodRun], shared: MethodRun) -> list[Job]:
    store: dict = {}
    jobs: list[Job] = []
    names = set(runs)
    if names & {"saliency", "input_x_gradient"}:
        jobs.append(Job(("saliency", "input_x_gradient"), 1, lambda: _gradient_pass(shared, store)))
    if names & {"guided_backprop", "guided_gradcam"}:
        mode = str(runs["guided_gradcam"].params["interpolate_mode"]) if "guided_gradcam" in runs else ""
        jobs.append(Job(("guided_backprop", "guided_gradcam"), 2, lambda: _guided_pass(shared, store, mode)))
    ig, ig_blur = runs.get("integrated_gradients"), runs.get("integrated_gradients_blur")
    same_path = ("steps", "method", "internal_batch_size")
    if ig and ig_blur and all(ig.params[k] == ig_blur.params[k] for k in same_path):
        jobs.append(
            Job(
                ("integrated_gradients", "integrated_gradients_blur"),
                2 * int(ig.params["steps"]),
                lambda: _both_integrated_gradients(shared, ig.params, ig_blur.params),
            )
        )
    covered = {n for job in jobs for n in job.names}
    for name, run in runs.items():
        if name not in covered:
            method = METHODS[name]
            jobs.append(Job((name,), method.images(run.params, run), partial(_single, method, run)))
    return jobs


def gradient_set(
    model: ResNet,
    x: torch.Tensor,
    target: int,
    methods=GRADIENT_SET,
    params: dict | None = None,
    progress: Progress | None = None,
    cancel: CancelCheck | None = None,
) -> dict[str, MethodResult]:
    """The gradient-based maps (default: all of GRADIENT_SET) of one input, as `explain` returns them.

    A shared pass's time is split evenly among the maps it gives (`ms`); the order of the result
    follows `methods`.
    """
    check_inputs(model, x, target)
    planned = plan(model, x, target, methods, params)
    outside = [m.name for m, _ in planned if m.name not in GRADIENT_SET]
    if outside:
        raise ValueError(f"not in the gradient set: {', '.join(outside)} (use explain)")
    runs = {m.name: run for m, run in planned}
    shared = MethodRun(model, x.detach(), int(target), {})
    for kind in {m.private for m, _ in planned if m.private is not None}:
        private_copy(model, kind)  # made (once) before timing starts
    jobs = _jobs(runs, shared)
    tracker = Tracker([float(job.images) for job in jobs], progress, cancel)
    for run in [shared, *runs.values()]:
        run.on_batch = tracker.on_batch
    heats: dict[str, tuple[np.ndarray, float]] = {}
    with torch.enable_grad():
        for index, job in enumerate(jobs):
            tracker.start(index, job.images)
            t0 = time.perf_counter()
            produced = {name: heat for name, heat in job.compute().items() if name in runs}
            ms = (time.perf_counter() - t0) * 1000 / max(len(produced), 1)
            heats.update({name: (heat, ms) for name, heat in produced.items()})
            tracker.finish()
    return {
        name: MethodResult(
            name, finite(name, heats[name][0]), round(heats[name][1], 1), dict(run.params), METHODS[name].signed
        )
        for name, run in runs.items()
    }
