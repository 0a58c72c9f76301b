import numpy as np
import pytest
import torch

from core.explain.gradcam import autograd_gradcam, cam_summary, colour_bar, fast_gradcam, jet, normalise, render_overlay
from core.models.classifier import build_resnet34, head_logits, trunk_features
from tests.conftest import randomise


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("relu", [False, True])
def test_fast_gradcam_matches_autograd_gradcam(seed, relu):
    """To 1e-5 relative to each map's scale, before the ReLU (every value) and after it."""
    model = randomise(build_resnet34(), seed).eval()
    gen = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(3, 3, 224, 224, generator=gen)
    target = torch.tensor([0, 1, seed % 2])
    with torch.no_grad():
        fast = fast_gradcam(trunk_features(model, x), model.fc.weight, target, relu=relu)
    reference = autograd_gradcam(model, x, target, relu=relu)
    assert fast.shape == reference.shape == (3, 7, 7)
    raw = autograd_gradcam(model, x, target, relu=False)
    assert raw.abs().amin(dim=(1, 2)).max() >= 0 and raw.abs().max() > 0, "degenerate reference map"
    scale = raw.abs().amax(dim=(1, 2), keepdim=True)
    assert ((fast - reference).abs() / scale).max() < 1e-5


def test_fast_path_uses_the_same_forward_as_the_model():
    model = randomise(build_resnet34(), 3).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(head_logits(model, trunk_features(model, x)), model(x), atol=1e-5)


def test_wrong_target_differs():
    """The check above would pass for any map if both sides ignored the target."""
    model = randomise(build_resnet34(), 4).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        feats = trunk_features(model, x)
    a = fast_gradcam(feats, model.fc.weight, torch.tensor([0]))
    b = fast_gradcam(feats, model.fc.weight, torch.tensor([1]))
    assert not torch.allclose(a, b)


def test_overlay_has_original_size_and_opacity_limits():
    gray = np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (180, 1))
    cam = normalise(np.random.default_rng(0).random((7, 7)))
    assert render_overlay(gray, cam, 0.0).shape == (180, 300, 3)
    assert np.array_equal(render_overlay(gray, cam, 0.0)[..., 0], gray)
    full = render_overlay(gray, cam, 1.0)
    assert not np.array_equal(full[..., 0], gray)


def test_jet_endpoints_and_colour_bar():
    assert tuple(jet(np.array(0.0))) == (0, 0, 127)  # dark blue for no attention
    assert tuple(jet(np.array(1.0))) == (127, 0, 0)  # dark red for the peak
    bar = colour_bar(64, 5)
    assert bar.shape == (5, 64, 3) and bar[0, 0, 2] > bar[0, 0, 0] and bar[0, -1, 0] > bar[0, -1, 2]


def test_cam_summary_zones_and_border():
    cam = np.zeros((7, 7), np.float32)
    cam[1, 1] = 1.0  # upper part of the viewer's left = the patient's right
    summary = cam_summary(cam)
    assert summary["peak"]["zone"] == "right_upper"
    assert abs(sum(summary["zone_share"].values()) - 1) < 1e-3
    assert max(summary["zone_share"], key=summary["zone_share"].get) == "right_upper"
    edge = np.zeros((7, 7), np.float32)
    edge[0, :] = 1.0
    assert cam_summary(edge)["border_share"] > 0.3 > summary["border_share"]
    assert cam_summary(np.zeros((7, 7)))["peak"] is None
