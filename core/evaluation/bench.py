"""`python -m core bench`: our analysis path against the bare forward pass and pytorch-grad-cam.

All three run in one process on the same images and the same model, so the ratios hold
whatever else the machine is doing; absolute milliseconds are printed for context only.

The Explanation Lab's gradient set (core.explain.methods.gradient_set: shared, batched passes) is
timed on a few images against the same methods one library call at a time, twice: with the
registry's parameters (the same work, nothing shared) and with each library's own defaults (what
calling them out of the box costs; Captum's IG then takes 50 steps in one batch, SmoothGrad and
GradientSHAP 5 samples).

The model-randomisation sanity check (core.explain.trust) is timed per method on one image at one
level (fc + layer4 re-initialised), for every method not marked slow and the edge-map control
(`--sanity-methods all` adds the slow ones): its cost beyond the map the page already
shows is one map on the randomised copy plus the two similarity measures, as a ratio to the
forward pass; making the randomised copy is timed once, apart (the app caches it per model).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from core.analysis import analyze_bytes
from core.imaging.decode import load_image
from core.imaging.preprocess import to_model_input
from core.model_service import ModelService
from core.training import dataset


def _p50_ms(fn, inputs, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        for item in inputs:
            t0 = time.perf_counter()
            fn(item)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_images(n: int) -> list[bytes]:
    """Held-out images from kermany224/test (reading them is not tuning), both classes."""
    samples = dataset.list_labelled(dataset.KERMANY / "test") or dataset.list_labelled(dataset.KERMANY / "train")
    if not samples:
        raise SystemExit(f"no images found under {dataset.KERMANY}")
    step = max(len(samples) // n, 1)
    return [s.path.read_bytes() for s in samples[::step][:n]]


def library_defaults_one_at_a_time(model, x: torch.Tensor, target: int) -> None:
    """The gradient set's methods, each called as its library documents it, with its default settings."""
    from captum import attr
    from pytorch_grad_cam import GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlusFlat
    from zennit.torchvision import ResNetCanonizer

    from core.explain.methods.copies import private_copy
    from core.explain.methods.gradient import black_baseline, blurred_baseline

    black, blurred = black_baseline(x), blurred_baseline(x, 12.0)
    hookable, plain = private_copy(model, "hookable").model, private_copy(model, "lrp").model
    attr.Saliency(model).attribute(x, target=target)
    attr.InputXGradient(model).attribute(x, target=target)
    attr.NoiseTunnel(attr.Saliency(model)).attribute(x, nt_type="smoothgrad", target=target)
    for baseline in (black, blurred):
        attr.IntegratedGradients(model).attribute(x, baselines=baseline, target=target)
    attr.DeepLift(hookable).attribute(x, baselines=black, target=target)
    attr.GradientShap(model).attribute(x, baselines=torch.cat([black, blurred]), target=target)
    attr.GuidedBackprop(hookable).attribute(x, target=target)
    attr.GuidedGradCam(hookable, hookable.layer4).attribute(x, target=target)
    with Gradient(model=plain, composite=EpsilonPlusFlat(canonizers=[ResNetCanonizer()])) as attributor:
        attributor(x.clone(), torch.eye(int(model.fc.out_features))[[target]])
    with GradCAMPlusPlus(model=hookable, target_layers=[hookable.layer4]) as cam:
        cam(input_tensor=x.clone().requires_grad_(True), targets=[ClassifierOutputTarget(target)])


def bench_gradient_set(model, tensors: list[torch.Tensor], target: int = 1, repeats: int = 1) -> dict:
    """Median ms per image of the gradient set three ways, interleaved so machine drift touches each alike."""
    import warnings

    from core.explain.methods import GRADIENT_SET, explain, gradient_set

    def shared(x):
        gradient_set(model, x, target)

    def one_at_a_time(x):
        explain(model, x, target, GRADIENT_SET)

    def library_defaults(x):
        library_defaults_one_at_a_time(model, x, target)

    timed = {"gradient_set": shared, "one_at_a_time": one_at_a_time, "library_defaults": library_defaults}
    results: dict[str, list[float]] = {k: [] for k in timed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Captum's per-call notes on hooks and requires_grad
        explain(model, tensors[0], target, ["saliency", "deeplift", "lrp"])  # warm-up; makes the private copies
        for _ in range(repeats):
            for name, fn in timed.items():
                results[name].append(_p50_ms(fn, tensors, 1))
    return {k: statistics.median(v) for k, v in results.items()}


def sanity_method_names(spec: str = "fast") -> list[str]:
    """'fast': every method not marked slow, and the controls; 'all': every method; or 'a,b'."""
    from core.explain.trust.maps import is_slow, known_names, trust_names

    if spec == "fast":
        return [n for n in known_names() if not is_slow(n)]
    return trust_names(spec)


def bench_sanity_check(
    model, tensors: list[torch.Tensor], forward_ms: float, methods_spec: str = "fast", repeats: int = 1, target: int = 1
) -> dict:
    """Median ms of the randomisation check per method (trained map given), and its ratio to the forward pass."""
    from core.explain.trust import compute_maps, randomisation_check, randomised_models
    from core.explain.trust.randomisation import VERDICT_LEVEL

    names = sanity_method_names(methods_spec)
    level = (VERDICT_LEVEL,)
    t0 = time.perf_counter()
    cascade = randomised_models(model, level)
    copy_ms = (time.perf_counter() - t0) * 1000
    trained = {x_index: compute_maps(model, x, target, names) for x_index, x in enumerate(tensors)}
    randomisation_check(model, tensors[0], target, names[0], level, models=cascade)  # warm-up
    methods = {}
    for name in names:
        times = []
        for _ in range(repeats):
            for i, x in enumerate(tensors):
                t0 = time.perf_counter()
                randomisation_check(model, x, target, name, level, trained=trained[i][name].map, models=cascade)
                times.append((time.perf_counter() - t0) * 1000)
        p50 = statistics.median(times)
        methods[name] = {"p50_ms": round(p50, 1), "ratio_vs_forward": round(p50 / forward_ms, 2)}
    return {"images": len(tensors), "level": VERDICT_LEVEL, "ms_randomised_copy": round(copy_ms, 1), "methods": methods}


def run_bench(
    n_images: int = 12,
    repeats: int = 3,
    warmup: int = 3,
    gradient_images: int = 2,
    sanity_images: int = 1,
    sanity_methods: str = "fast",
) -> dict:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    service = ModelService()
    model = service.model
    images = bench_images(n_images)
    tensors = [to_model_input(load_image(b).pixels) for b in images]

    def ours(data: bytes):
        # The full path includes the input guard, the uncertainty read-out and the overlay array the
        # Analyze page shows; force=True so a held-out X-ray the guard happens to flag is still
        # timed rather than aborting the bench.
        analyze_bytes(service, data, force=True).overlay()

    def forward(x):
        with torch.inference_mode():
            model(x)

    runtime = service.runtime

    def runtime_forward(x):
        assert runtime is not None
        runtime.classify(x.numpy())

    # The peer as its README uses it: a model whose parameters take gradients.
    peer_model = copy.deepcopy(model).requires_grad_(True)
    peer = GradCAM(model=peer_model, target_layers=[peer_model.layer4[-1]])

    def peer_gradcam(x):
        peer(input_tensor=x, targets=[ClassifierOutputTarget(1)])

    timed: dict[str, tuple[Callable[[Any], object], list[Any]]] = {
        "ours": (ours, images),
        "forward": (forward, tensors),
        "pytorch_grad_cam": (peer_gradcam, tensors),
    }
    if runtime is not None:
        timed["runtime_forward"] = (runtime_forward, tensors)
    for fn, inputs in timed.values():
        for item in inputs[:warmup]:
            fn(item)
    # Interleave them so drift in machine load touches each alike.
    results: dict[str, list[float]] = {k: [] for k in timed}
    for _ in range(repeats):
        for name, (fn, inputs) in timed.items():
            results[name].append(_p50_ms(fn, inputs, 1))
    p50 = {k: statistics.median(v) for k, v in results.items()}
    throughput = _throughput(model, p50.get("runtime_forward", p50["forward"]))
    limits = _bench_limits(service, images, repeats) if service.segmenter is not None and service.info.trained else None
    grad = bench_gradient_set(model, tensors[:gradient_images]) if gradient_images > 0 else None
    faithfulness = _bench_faithfulness(service, images[0], repeats) if runtime is not None else None
    sanity = None
    if sanity_images > 0:
        sanity = bench_sanity_check(model, tensors[:sanity_images], p50["forward"], sanity_methods)
    return {
        "images": len(images),
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "model_version": service.version,
        "input_guard": service.guard_status,
        # What runs predictions (the full analysis and the probe): the CPU runtime, or torch and why.
        "prediction_runtime": str(service.runtime_status),
        "p50_ms_runtime_forward": runtime and round(p50["runtime_forward"], 2),
        "ratio_runtime_vs_torch_forward": runtime and round(p50["runtime_forward"] / p50["forward"], 3),
        **throughput,
        "p50_ms_full_analysis": round(p50["ours"], 2),
        "p50_ms_forward": round(p50["forward"], 2),
        "p50_ms_pytorch_grad_cam": round(p50["pytorch_grad_cam"], 2),
        "ratio_full_vs_forward": round(p50["ours"] / p50["forward"], 3),
        "ratio_full_vs_pytorch_grad_cam": round(p50["ours"] / p50["pytorch_grad_cam"], 3),
        "targets": {
            "ratio_runtime_vs_torch_forward": 0.7,
            "ratio_full_vs_forward": 1.0,
            "ratio_full_vs_pytorch_grad_cam": 0.5,
            "ratio_limits_probe_vs_forward": 3.0,
        },
        # Stage 1 of the input check (the lung U-Net) is inside the full analysis; its map is reused
        # by the limits probe, so the probe no longer segments.
        "input_check_stage1": "lung U-Net" if service.segmenter is not None and service.guard is not None else "off",
        "test_time_augmentation": "none",
        # The model-limits probe (lung mask, markers, 8 extra forward passes for faithfulness and
        # counterfactuals) is a separate step after the analysis; its cost is reported, not hidden.
        "p50_ms_lung_segmentation": limits and limits["segment"],
        "p50_ms_limits_probe": limits and limits["probe"],
        "ratio_limits_probe_vs_forward": limits and round(limits["probe"] / p50["forward"], 3),
        # The Explanation Lab's gradient set (11 maps) on the first `gradient_images` images, target PNEUMONIA.
        "gradient_set_images": gradient_images if grad else 0,
        "p50_ms_gradient_set": grad and round(grad["gradient_set"], 1),
        "p50_ms_gradient_one_at_a_time": grad and round(grad["one_at_a_time"], 1),
        "p50_ms_gradient_library_defaults": grad and round(grad["library_defaults"], 1),
        "ratio_gradient_set_vs_forward": grad and round(grad["gradient_set"] / p50["forward"], 2),
        "ratio_gradient_set_vs_one_at_a_time": grad and round(grad["gradient_set"] / grad["one_at_a_time"], 3),
        "ratio_gradient_set_vs_library_defaults": grad and round(grad["gradient_set"] / grad["library_defaults"], 3),
        # The randomisation sanity check (fc + layer4 re-initialised) per method, beyond the map itself.
        "sanity_check": sanity,
        # The Analyze page's faithfulness curves, on request: the runtime against torch.
        **(faithfulness or {}),
    }


def _throughput(model, forward_ms: float) -> dict:
    """Nominal GFLOP/s of the batch-1 prediction forward, against the GEMM throughput measured here and now.

    FLOPs are counted by torch (2 per multiply-add of the direct convolutions). A runtime that uses
    Winograd or FFT convolutions does fewer operations, so its nominal rate can pass the GEMM figure.
    """
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, 224, 224)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    flops = counter.get_total_flops()
    a = torch.randn(1536, 1536)
    torch.mm(a, a)  # warm-up
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        torch.mm(a, a)
        times.append(time.perf_counter() - t0)
    gemm = 2 * 1536**3 / min(times) / 1e9
    achieved = flops / (forward_ms / 1000) / 1e9
    return {
        "gflop_per_forward": round(flops / 1e9, 3),
        "gflops_per_s": round(achieved, 1),
        "gemm_gflops_per_s": round(gemm, 1),
        "share_of_gemm_peak": round(achieved / gemm, 3),
    }


def _bench_faithfulness(service: ModelService, data: bytes, repeats: int) -> dict:
    """The Analyze page's deletion/insertion curves (63 forward passes) on the runtime and on torch, interleaved."""
    from core.analysis import heatmap_faithfulness

    analysis = analyze_bytes(service, data, force=True)
    runtime = service.runtime
    times: dict[str, list[float]] = {"runtime": [], "torch": []}
    for _ in range(max(repeats, 1)):
        for engine in ("runtime", "torch"):
            service.runtime = runtime if engine == "runtime" else None
            start = time.perf_counter()
            heatmap_faithfulness(service, analysis)
            times[engine].append((time.perf_counter() - start) * 1000)
    service.runtime = runtime
    p50 = {k: statistics.median(v) for k, v in times.items()}
    return {
        "p50_ms_faithfulness_runtime": round(p50["runtime"], 1),
        "p50_ms_faithfulness_torch": round(p50["torch"], 1),
        "ratio_faithfulness_runtime_vs_torch": round(p50["runtime"] / p50["torch"], 3),
    }


def _bench_limits(service: ModelService, images: list[bytes], repeats: int) -> dict:
    from core.explain.limits import probe_analysis
    from core.imaging.preprocess import resize_gray

    analyses = [analyze_bytes(service, data, force=True) for data in images]
    grays = [resize_gray(a.image.pixels) for a in analyses]
    segmenter = service.segmenter
    assert segmenter is not None  # run_bench calls this only when a lung segmenter is installed
    probe_analysis(service, analyses[0])
    return {
        "segment": round(_p50_ms(lambda g: segmenter.probabilities(g[None]), grays, repeats), 2),
        "probe": round(_p50_ms(lambda a: probe_analysis(service, a), analyses, repeats), 2),
    }
