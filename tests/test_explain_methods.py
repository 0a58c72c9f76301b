"""Explanation Lab methods: each map equals its library's own call, on a tiny random ResNet.

The tiny model is torchvision's ResNet with one BasicBlock per stage (the layout of ResNet34, with
its reused in-place ReLUs), random weights and BatchNorm statistics, on a 64×64 input: layer4 is
2×2, and every map must still come back on the 64×64 input grid.
"""

from __future__ import annotations

import copy
import json

import cv2
import numpy as np
import pytest
import torch
from captum.attr import (
    DeepLift,
    GradientShap,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    KernelShap,
    Lime,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from skimage.segmentation import slic
from torchvision.models.resnet import BasicBlock, ResNet
from zennit.attribution import Gradient
from zennit.composites import EpsilonPlusFlat
from zennit.torchvision import ResNetCanonizer

from core.explain.methods import GRADIENT_SET, METHODS, Cancelled, explain, gradient_set, summarise
from core.explain.methods.copies import separate_relus
from core.imaging.preprocess import PIXEL_MEAN, PIXEL_STD
from tests.conftest import randomise

# Captum notes on every call that it sets requires_grad and hooks (on its inputs and our private copies).
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum.*")
SIZE = 64
BLACK = -PIXEL_MEAN / PIXEL_STD
# Small settings so the whole file runs in seconds; the references below use the same ones.
TINY_PARAMS = {
    "scorecam": {"batch_size": 64},
    "smoothgrad": {"samples": 6},
    "integrated_gradients": {"steps": 8, "internal_batch_size": 4},
    "integrated_gradients_blur": {"steps": 8, "internal_batch_size": 4},
    "gradient_shap": {"samples": 6},
    "occlusion": {"patch": 16, "stride": 8},
    "lime": {"n_segments": 12, "samples": 40},
    "kernel_shap": {"n_segments": 12, "samples": 40},
}


def tiny_resnet(seed: int = 0) -> ResNet:
    model = randomise(ResNet(BasicBlock, [1, 1, 1, 1], num_classes=2), seed).eval()
    with torch.no_grad():
        model.fc.weight.mul_(100.0)  # logits that move by O(1) with the input, as a trained model's do
    for p in model.parameters():
        p.requires_grad_(False)  # as core.models.classifier.load_classifier leaves it
    return model.to(memory_format=torch.channels_last)


def tiny_input(seed: int = 0) -> torch.Tensor:
    """A smooth grey 'radiograph' (so superpixels and blur mean something), repeated into 3 channels."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, 8, 8, generator=gen)
    grey = torch.nn.functional.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    x = ((grey - PIXEL_MEAN) / PIXEL_STD).expand(-1, 3, -1, -1)
    return x.contiguous(memory_format=torch.channels_last)


@pytest.fixture(scope="module")
def model():
    return tiny_resnet()


@pytest.fixture(scope="module")
def x():
    return tiny_input()


def params_for(names):
    return {n: TINY_PARAMS[n] for n in names if n in TINY_PARAMS}


@pytest.fixture(scope="module")
def maps(model, x):
    """Every method, once per target class."""
    return {t: explain(model, x, t, "all", params_for(METHODS)) for t in (0, 1)}


# ---------- the libraries' own calls ---------------------------------------------------------


def grad_model(model):
    """A plain copy whose parameters take gradients: how pytorch-grad-cam's README uses a model."""
    return copy.deepcopy(model).requires_grad_(True)


def library_cam(cam_class, model, x, target, **attributes):
    twin = grad_model(model)
    with cam_class(model=twin, target_layers=[twin.layer4]) as cam:
        for k, v in attributes.items():
            setattr(cam, k, v)
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]


def blurred(x, sigma_at_224=12.0):
    image = x[0].permute(1, 2, 0).numpy().astype(np.float32)
    out = cv2.GaussianBlur(image, (0, 0), sigma_at_224 * SIZE / 224)
    return torch.from_numpy(out).permute(2, 0, 1)[None].contiguous()


def seeded(seed, fn):
    torch.manual_seed(seed)
    np.random.seed(seed)
    return fn()


def slic_mask(x, n_segments):
    grey = (x[0, 0].numpy() * PIXEL_STD + PIXEL_MEAN).clip(0, 1)
    return torch.from_numpy(slic(grey, n_segments=n_segments, compactness=0.1, channel_axis=None, start_label=0))[
        None, None
    ]


def reference(name, model, x, t):
    """Each method as its library documents it, reduced as the registry says."""
    p = {**METHODS[name].defaults, **TINY_PARAMS.get(name, {})}
    abs_sum = lambda a: a.detach()[0].abs().sum(0).numpy()  # noqa: E731
    signed_sum = lambda a: a.detach()[0].sum(0).numpy()  # noqa: E731
    mean = lambda a: a.detach()[0].mean(0).numpy()  # noqa: E731
    black = torch.full_like(x, BLACK)
    if name == "gradcam":
        return library_cam(GradCAM, model, x, t)
    cams = {"gradcam_pp": GradCAMPlusPlus, "eigencam": EigenCAM, "layercam": LayerCAM, "hirescam": HiResCAM}
    if name in cams:
        return library_cam(cams[name], model, x, t)
    if name == "scorecam":
        return library_cam(ScoreCAM, model, x, t, batch_size=p["batch_size"])
    if name == "saliency":
        return abs_sum(Saliency(model).attribute(x, target=t))
    if name == "input_x_gradient":
        return signed_sum(InputXGradient(model).attribute(x, target=t))
    if name == "smoothgrad":
        nt = NoiseTunnel(Saliency(model))
        std = 0.15 * float(x.max() - x.min())
        return abs_sum(
            seeded(
                0,
                lambda: nt.attribute(x, nt_type="smoothgrad", nt_samples=p["samples"], stdevs=std, target=t, abs=False),
            )
        )
    if name in ("integrated_gradients", "integrated_gradients_blur"):
        base = black if name == "integrated_gradients" else blurred(x)
        return signed_sum(IntegratedGradients(model).attribute(x, baselines=base, target=t, n_steps=p["steps"]))
    if name == "deeplift":
        # Captum's DeepLift needs each ReLU used once: on torchvision's block it raises (see the test below).
        return signed_sum(DeepLift(separate_relus(model)).attribute(x, baselines=black, target=t))
    if name == "gradient_shap":
        baselines = torch.cat([black, blurred(x)])
        return signed_sum(
            seeded(0, lambda: GradientShap(model).attribute(x, baselines, n_samples=p["samples"], stdevs=0.1, target=t))
        )
    if name == "guided_backprop":
        return abs_sum(GuidedBackprop(copy.deepcopy(model)).attribute(x, target=t))
    if name == "guided_gradcam":
        twin = copy.deepcopy(model)
        return abs_sum(GuidedGradCam(twin, twin.layer4).attribute(x, target=t, interpolate_mode="bilinear"))
    if name == "lrp":
        composite = EpsilonPlusFlat(canonizers=[ResNetCanonizer()])
        with Gradient(model=copy.deepcopy(model), composite=composite) as attributor:
            _, relevance = attributor(x.clone(), torch.eye(2)[[t]])
        return signed_sum(relevance)
    if name == "occlusion":
        window, stride = (3, p["patch"], p["patch"]), (3, p["stride"], p["stride"])
        # The same batching as ours (perturbations_per_eval): a logit difference is sensitive to batch rounding.
        occlusion = Occlusion(model)
        return mean(occlusion.attribute(x, window, strides=stride, baselines=0.0, target=t, perturbations_per_eval=16))
    if name in ("lime", "kernel_shap"):
        explainer = (Lime if name == "lime" else KernelShap)(model)
        mask = slic_mask(x, p["n_segments"])
        return mean(
            seeded(
                0,
                lambda: explainer.attribute(
                    x, baselines=0.0, target=t, feature_mask=mask, n_samples=p["samples"], perturbations_per_eval=16
                ),
            )
        )
    raise AssertionError(f"no reference for {name}")


def close(ours: np.ndarray, theirs: np.ndarray, tol: float = 1e-5) -> bool:
    """Equal to `tol` relative to the reference map's largest magnitude."""
    scale = max(float(np.abs(theirs).max()), 1e-12)
    return float(np.abs(ours - theirs).max()) <= tol * scale


# ---------- tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(METHODS))
def test_method_equals_its_library_call(name, model, x, maps):
    expected = reference(name, model, x, 1)
    assert np.abs(expected).max() > 0, f"degenerate reference map for {name}"
    ours = maps[1][name].map
    assert close(ours, expected), f"{name}: max diff {np.abs(ours - expected).max():.3g}"


@pytest.mark.parametrize("name", list(METHODS))
def test_map_is_finite_on_the_input_grid(name, maps):
    result = maps[1][name]
    assert result.map.shape == (SIZE, SIZE) and result.map.dtype == np.float32
    assert np.isfinite(result.map).all() and result.ms >= 0
    assert result.params == {**METHODS[name].defaults, **TINY_PARAMS.get(name, {})}


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if m.class_specific])
def test_switching_the_target_changes_the_map(name, maps):
    assert not np.allclose(maps[0][name].map, maps[1][name].map)


def test_eigencam_is_the_one_class_agnostic_map(maps):
    assert [n for n, m in METHODS.items() if not m.class_specific] == ["eigencam"]
    assert np.array_equal(maps[0]["eigencam"].map, maps[1]["eigencam"].map)


def test_deeplift_needs_the_copy_with_separate_relus(model, x):
    """Why copies.separate_relus exists: torchvision's BasicBlock calls one ReLU module twice."""
    with pytest.raises(RuntimeError, match="used more than once"):
        # On a clone: Captum leaves requires_grad set on the input of a call that raises.
        DeepLift(copy.deepcopy(model)).attribute(x.clone(), baselines=torch.full_like(x, BLACK), target=1)
    with torch.no_grad():
        assert torch.equal(separate_relus(model)(x), model(x))


def snapshot(model):
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "grad": [p.requires_grad for p in model.parameters()],
        "modules": [(n, type(m).__name__, getattr(m, "inplace", None)) for n, m in model.named_modules()],
        "training": [m.training for m in model.modules()],
    }


def assert_untouched(model, before):
    after = snapshot(model)
    assert after["state"].keys() == before["state"].keys()
    assert all(torch.equal(after["state"][k], v) for k, v in before["state"].items())
    assert after["grad"] == before["grad"] and after["modules"] == before["modules"]
    assert after["training"] == before["training"]
    for name, module in model.named_modules():
        for hooks in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            assert not getattr(module, hooks), f"{hooks} left on {name or 'model'}"
        assert not hasattr(module, "input") and not hasattr(module, "output"), f"DeepLift attributes left on {name}"
    from torch.nn.modules import module as torch_module

    assert not torch_module._global_forward_hooks and not torch_module._global_backward_hooks


@pytest.mark.parametrize("name", list(METHODS))
def test_the_model_is_unchanged_after_each_method(name, x):
    model = tiny_resnet(seed=5)
    before = snapshot(model)
    explain(model, x, 1, [name], params_for([name]))
    assert_untouched(model, before)


def test_gradient_set_equals_the_library_calls(model, x, maps):
    before = snapshot(model)
    shared = gradient_set(model, x, 1, params=params_for(GRADIENT_SET))
    assert not x.requires_grad and x.grad is None  # the caller's tensor is left as it was
    assert list(shared) == list(GRADIENT_SET)
    for name in GRADIENT_SET:
        assert close(shared[name].map, maps[1][name].map), name
        assert shared[name].params == maps[1][name].params
    assert_untouched(model, before)
    other = gradient_set(model, x, 0, methods=["guided_gradcam", "input_x_gradient"])
    assert list(other) == ["guided_gradcam", "input_x_gradient"]
    assert close(other["guided_gradcam"].map, maps[0]["guided_gradcam"].map)
    assert close(other["input_x_gradient"].map, maps[0]["input_x_gradient"].map)


def test_progress_reaches_one_and_never_goes_back(model, x):
    seen: list[float] = []
    explain(model, x, 1, ["gradcam", "scorecam", "saliency"], params_for(["scorecam"]), progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(set(seen)) > 3
    seen.clear()
    gradient_set(
        model, x, 1, methods=["saliency", "smoothgrad"], params=params_for(["smoothgrad"]), progress=seen.append
    )
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_cancel_stops_inside_a_slow_library_call_and_leaves_no_hooks(x):
    model = tiny_resnet(seed=6)
    before = snapshot(model)
    calls = {"n": 0}

    def cancel_after_three_checks() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        explain(model, x, 1, ["scorecam"], {"scorecam": {"batch_size": 16}}, cancel=cancel_after_three_checks)
    assert 3 < calls["n"] < 512 // 16  # stopped inside Score-CAM's batches, not after them
    assert_untouched(model, before)
    # The private copy the cancelled call used is rebuilt: the next run is the library's result.
    again = explain(model, x, 1, ["scorecam"], {"scorecam": {"batch_size": 16}})["scorecam"].map
    assert close(again, library_cam(ScoreCAM, model, x, 1, batch_size=16))
    with pytest.raises(Cancelled):
        gradient_set(model, x, 1, cancel=lambda: True)


def test_bench_times_the_gradient_set_three_ways(model, x):
    from core.evaluation.bench import bench_gradient_set

    # Registry defaults on the tiny model: IG's 32 steps and 16 samples are still quick at 64 px.
    timings = bench_gradient_set(model, [x])
    assert set(timings) == {"gradient_set", "one_at_a_time", "library_defaults"}
    assert all(v > 0 for v in timings.values())


def test_unknown_names_and_parameters_fail_before_any_work(model, x):
    with pytest.raises(ValueError, match="unknown method"):
        explain(model, x, 1, ["gradcam", "nope"])
    with pytest.raises(ValueError, match="unknown parameter"):
        explain(model, x, 1, ["smoothgrad"], {"smoothgrad": {"sample": 3}})
    with pytest.raises(ValueError, match="not a class index"):
        explain(model, x, 2, ["gradcam"])
    with pytest.raises(ValueError, match="not in the gradient set"):
        gradient_set(model, x, 1, methods=["occlusion"])


def test_a_changed_model_gets_a_fresh_private_copy(x):
    model = tiny_resnet(seed=7)
    first = explain(model, x, 1, ["deeplift"])["deeplift"].map
    with torch.no_grad():
        model.fc.weight.mul_(-1.0)
    second = explain(model, x, 1, ["deeplift"])["deeplift"].map
    assert close(second, -first, 1e-4)


def test_registry_entries_are_complete():
    for m in METHODS.values():
        assert m.family in ("activation", "gradient", "relevance", "perturbation")
        assert m.computes and m.library and m.reduction and m.citation and any(c.isdigit() for c in m.citation)
    assert {"gradcam", "gradcam_pp", "scorecam", "eigencam", "saliency", "lrp", "occlusion", "lime"} <= set(METHODS)
    assert {m.name for m in METHODS.values() if m.slow} == {"scorecam", "occlusion", "lime", "kernel_shap"}


def test_summary_shares_follow_the_map():
    heat = np.zeros((224, 224), np.float32)
    heat[100:120, 40:60] = 1.0  # inside the "lung"
    heat[0:5, 200:224] = 0.5  # on the border frame
    heat[150, 150] = -3.0  # against the target: not in the positive mass
    lungs = np.zeros((224, 224), bool)
    lungs[80:160, 30:100] = True
    out = summarise(heat, True, lungs, [[195, 0, 224, 8]])
    inside, border = 400 * 1.0, 120 * 0.5
    assert out["peak"] == {"row": 100, "col": 40}
    assert out["shares"]["lung_share"] == pytest.approx(inside / (inside + border), abs=1e-3)
    assert out["shares"]["border_share"] == pytest.approx(border / (inside + border), abs=1e-3)
    assert out["shares"]["marker_share"] > 0 and out["shares_absolute"]["lung_share"] < out["shares"]["lung_share"]
    assert summarise(heat, False, None, [])["shares"]["lung_share"] is None


# ---------- command line ---------------------------------------------------------------------


def run_cli(*args):
    import subprocess
    import sys

    from tests.conftest import REPO

    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_cli_lists_methods():
    done = run_cli("explain", "--list")
    assert done.returncode == 0, done.stderr
    for name, m in METHODS.items():
        line = next(line for line in done.stdout.splitlines() if line.startswith(name + " "))
        assert m.family in line and ("slow" if m.slow else "fast") in line and json.dumps(m.defaults) in line


def test_cli_explains_a_real_image_with_the_committed_model(tmp_path):
    from core.training import dataset

    image = sorted((dataset.KERMANY / "train" / "PNEUMONIA").glob("*.jpeg"))[0]
    done = run_cli("explain", image, "--methods", "saliency,gradcam", "--json", "--save-maps", tmp_path / "maps")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["target"] == out["label"] and list(out["methods"]) == ["saliency", "gradcam"]
    for name, entry in out["methods"].items():
        saved = np.load(tmp_path / "maps" / f"{name}.npy")
        assert saved.shape == (224, 224) and saved.dtype == np.float32 and np.isfinite(saved).all()
        assert entry["family"] == METHODS[name].family and entry["ms"] > 0
        row, col = np.unravel_index(int(np.argmax(saved)), saved.shape)
        assert entry["peak"] == {"row": int(row), "col": int(col)}
        assert 0 <= entry["shares"]["lung_share"] <= 1 and 0 <= entry["shares"]["border_share"] <= 1
    # The saved Grad-CAM is the analysis's own CAM on the 224 grid.
    from core.analysis import analyze_bytes
    from core.explain.methods.reduce import scale_cam
    from core.model_service import ModelService

    analysis = analyze_bytes(ModelService(), image.read_bytes())
    assert np.abs(np.load(tmp_path / "maps" / "gradcam.npy") - scale_cam(analysis.cam, (224, 224))).max() < 1e-5


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"not an image")
    for args in (
        (junk, "--methods", "gradcam"),
        (tmp_path / "missing.png",),
        (junk, "--methods", "gradcam,bogus"),
        (),
    ):
        done = run_cli("explain", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1
