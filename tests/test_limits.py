"""Model-limits building blocks: markers, lung masks, CAM shares, probes, flags, the CLI faces."""

import copy
import io
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from core.explain.limits import (
    BLANK_VALUE,
    DEFAULT_THRESHOLDS,
    Thresholds,
    blank_outside,
    explanation_shares,
    lung_contour_overlay,
    pack_mask,
    probe_image,
    unpack_mask,
)
from core.explain.markers import detect_markers, erase_markers
from core.imaging.preprocess import normalize
from core.model_service import ModelService
from core.models.lungs import LungSegmenter, LungUNet, clean_mask, dice, fused_for_inference, mask_to_size
from core.vocabulary import LIMIT_FLAGS


def body_with_marker(text: str = "R", corner=(12, 30)) -> np.ndarray:
    """A grey 'body' on a dark film with a white burned-in letter in the top-left corner."""
    img = np.full((224, 224), 20, np.uint8)
    cv2.ellipse(img, (112, 120), (85, 100), 0, 0, 360, 130, -1)
    rng = np.random.default_rng(0)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    if text:
        cv2.putText(img, text, corner, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 2)
    return img


def two_lungs() -> np.ndarray:
    mask = np.zeros((224, 224), bool)
    mask[50:170, 40:100] = True
    mask[50:170, 124:184] = True
    return mask


def test_marker_found_where_the_letter_is_and_not_on_a_plain_image():
    boxes = detect_markers(body_with_marker("R"))
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert x0 <= 16 and x1 >= 20 and y0 <= 22 and y1 >= 26  # the glyph around (12..25, 17..30)
    assert detect_markers(body_with_marker("")) == []


def test_marker_over_tissue_only_near_the_sides_and_never_on_the_lungs():
    img = body_with_marker("R", corner=(30, 100))
    assert detect_markers(img) != []  # saturated glyph over tissue near the side: a marker…
    lungs = np.zeros((224, 224), bool)
    lungs[60:180, 25:100] = True
    assert detect_markers(img, lungs) == []  # …unless it lies on the lung fields
    assert detect_markers(body_with_marker("R", corner=(60, 100))) == []  # mid-film: a clip or bone end, not text


def test_erasing_a_marker_removes_the_glyph_and_nothing_else():
    img = body_with_marker("R")
    boxes = detect_markers(img)
    erased = erase_markers(img, boxes)
    x0, y0, x1, y1 = boxes[0]
    assert img[y0:y1, x0:x1].max() == 255 and erased[y0:y1, x0:x1].max() < 80
    outside = np.ones_like(img, bool)
    outside[max(0, y0 - 6) : y1 + 6, max(0, x0 - 6) : x1 + 6] = False
    assert np.array_equal(erased[outside], img[outside])


def test_mask_packing_round_trips_and_is_small():
    mask = two_lungs()
    data = pack_mask(mask)
    assert np.array_equal(unpack_mask(data), mask) and len(data) < 1000


def test_clean_mask_keeps_two_lungs_and_fills_holes():
    mask = two_lungs()
    noisy = mask.copy()
    noisy[100:110, 60:70] = False  # a hole
    noisy[5:8, 5:8] = True  # a speck
    cleaned = clean_mask(noisy)
    assert np.array_equal(cleaned, mask)
    assert dice(cleaned, mask) == 1.0 and dice(np.zeros_like(mask), mask) == 0.0
    assert mask_to_size(mask, 448, 448).sum() == pytest.approx(4 * mask.sum(), rel=0.02)


def cam_on(region: np.ndarray) -> np.ndarray:
    """A 224×224 'CAM' that is 1 on a region and 0 elsewhere (upsample keeps 224 as is)."""
    return region.astype(np.float32)


def test_cam_shares_follow_where_the_mass_is():
    lungs = two_lungs()
    inside = explanation_shares(cam_on(lungs), lungs, [])
    assert inside["lung_share"] == pytest.approx(1.0, abs=1e-3) and inside["peak_region"] == "lung"
    marker = np.zeros_like(lungs)
    marker[10:30, 10:30] = True
    on_marker = explanation_shares(cam_on(marker), lungs, [[12, 12, 28, 28]])
    assert on_marker["marker_share"] > 0.9 and on_marker["lung_share"] == 0.0
    assert on_marker["peak_region"] == "marker" and on_marker["border_share"] > 0.5
    between = np.zeros_like(lungs)
    between[80:120, 104:120] = True
    assert explanation_shares(cam_on(between), lungs, [])["mediastinum_share"] > 0.9
    below = np.zeros_like(lungs)
    below[185:200, 60:160] = True
    assert explanation_shares(cam_on(below), lungs, [])["below_diaphragm_share"] > 0.9


def test_blanking_keeps_the_lungs_only():
    img = body_with_marker("R")
    lungs = two_lungs()
    out = blank_outside(img, lungs)
    assert np.array_equal(out[lungs], img[lungs])
    assert (out[:20, :] == BLANK_VALUE).all()


def test_contour_is_drawn_at_the_image_size():
    rgb = np.zeros((448, 300, 3), np.uint8)
    drawn = lung_contour_overlay(rgb, two_lungs())
    assert drawn.shape == rgb.shape and drawn.any() and not drawn[:40].any()


def metrics(**changes) -> dict:
    base = {
        "lung_share": 0.8,
        "border_share": 0.05,
        "marker_share": 0.0,
        "peak_region": "lung",
        "markers": [],
        "counterfactual": {"marker_delta": None},
    }
    base.update(changes)
    return base


def test_flags_fire_on_their_thresholds_only():
    t = Thresholds(lung_share_below=0.4, border_share_above=0.3, marker_share_above=0.05, marker_delta_above=0.1)
    assert t.flags(metrics()) == []
    assert t.flags(metrics(lung_share=0.39)) == ["heatmap_outside_lungs"]
    assert t.flags(metrics(border_share=0.3)) == ["heatmap_on_border"]
    assert t.flags(metrics(marker_share=0.2)) == []  # no marker was found: a share means nothing
    assert t.flags(metrics(markers=[[0, 0, 9, 9]], marker_share=0.06)) == ["heatmap_on_marker"]
    assert t.flags(metrics(markers=[[0, 0, 9, 9]], peak_region="marker")) == ["heatmap_on_marker"]
    assert t.flags(metrics(markers=[[0, 0, 9, 9]], counterfactual={"marker_delta": -0.12})) == ["marker_dependent"]
    assert set(LIMIT_FLAGS) == {"heatmap_on_marker", "heatmap_on_border", "heatmap_outside_lungs", "marker_dependent"}


def test_thresholds_load_only_for_their_own_classifier(tmp_path):
    (tmp_path / "limits.json").write_text(
        json.dumps(
            {
                "classifier_sha256": "abc",
                "thresholds": {
                    "lung_share_below": 0.3,
                    "border_share_above": 0.2,
                    "marker_share_above": 0.04,
                    "marker_delta_above": 0.05,
                },
            }
        )
    )
    assert Thresholds.load(tmp_path, "abc").fitted and Thresholds.load(tmp_path, "abc").lung_share_below == 0.3
    stale = Thresholds.load(tmp_path, "other")
    assert not stale.fitted and stale.lung_share_below == DEFAULT_THRESHOLDS["lung_share_below"]


def test_probe_measures_the_counterfactuals_it_reports(limits_weights_dir):
    service = ModelService(limits_weights_dir)
    assert service.segmenter is not None
    img = body_with_marker("R")
    out = service.forward(normalize(torch.from_numpy(img)[None, None]))
    p = float(out.probability[0])
    cam = np.random.default_rng(1).random((7, 7)).astype(np.float32)
    probe = probe_image(service, service.segmenter, img, cam, p, "PNEUMONIA", service.limit_thresholds, control=True)
    m = probe.metrics
    assert m["markers"] and probe.marker_erased is not None
    # The stored probabilities are the model's on the stored counterfactual images.
    again = service.forward(
        normalize(torch.from_numpy(np.stack([probe.marker_erased, probe.outside_blanked]))[:, None])
    )
    assert m["counterfactual"]["p_marker_erased"] == pytest.approx(float(again.probability[0]), abs=1e-4)
    assert m["counterfactual"]["marker_delta"] == pytest.approx(float(again.probability[0]) - p, abs=2e-4)
    assert m["counterfactual"]["p_outside_blanked"] == pytest.approx(float(again.probability[1]), abs=1e-4)
    assert 0.0 <= m["faithfulness"]["deletion_auc"] <= 1.0 and 0.0 <= m["faithfulness"]["insertion_auc"] <= 1.0
    assert set(m["flags"]) <= set(LIMIT_FLAGS) and "control_delta" in probe.extra
    for key in ("lung_share", "border_share", "marker_share", "mediastinum_share", "below_diaphragm_share"):
        assert 0.0 <= m[key] <= 1.0


def test_probes_batched_together_equal_each_probe_on_its_own(limits_weights_dir, kermany_test_dir, monkeypatch):
    """Import and the demo seed probe a whole batch in shared forward passes: the figures must not change."""
    from core.analysis import analyze_batch
    from core.explain import limits
    from core.imaging.decode import load_image

    monkeypatch.setattr(limits, "PROBE_CHUNK", 7)  # chunks that cut through one image's probe images
    service = ModelService(limits_weights_dir)
    paths = sorted(kermany_test_dir.rglob("*.jpeg"))[::40][:5]
    marked = io.BytesIO()
    Image.fromarray(body_with_marker("L")).save(marked, format="PNG")
    images = [load_image(p.read_bytes()) for p in paths] + [load_image(marked.getvalue())]
    together = analyze_batch(service, images, with_limits=True)
    assert together[-1].limits.metrics["markers"]  # one probe with an erased-marker image: 5 images, not 4
    for image, batched in zip(images, together):
        alone = analyze_batch(service, [image], with_limits=True)[0]
        # The same figures; a forward pass over another batch size may differ in the last float bits.
        assert json.loads(json.dumps(batched.limits.metrics)) == _approx(alone.limits.metrics)
        assert np.array_equal(batched.limits.lung_mask, alone.limits.lung_mask)


def _approx(value):
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return pytest.approx(value, abs=2e-4) if isinstance(value, float) else value


def test_analyze_json_carries_lung_border_marker_metrics(limits_weights_dir, kermany_test_dir, monkeypatch):
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(limits_weights_dir))
    image = next((kermany_test_dir / "PNEUMONIA").glob("*.jpeg"))
    done = subprocess.run(
        [sys.executable, "-m", "core", "analyze", str(image), "--json", "--force"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)["cam_summary"]
    for key in ("lung_share", "border_share", "marker_share", "counterfactual", "flags", "faithfulness"):
        assert key in summary
    assert any("lung" in k for k in summary) and any("marker" in k for k in summary)


def test_lungs_cli_writes_one_mask_per_image_at_its_size(limits_weights_dir, kermany_test_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(limits_weights_dir))
    src = tmp_path / "in"
    src.mkdir()
    first = next((kermany_test_dir / "NORMAL").glob("*.jpeg"))
    Image.open(first).resize((300, 260)).save(src / "wide.png")
    (src / "broken.jpeg").write_bytes(b"not an image")
    done = subprocess.run(
        [sys.executable, "-m", "core", "lungs", str(src), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "broken.jpeg" in done.stderr
    mask = np.asarray(Image.open(tmp_path / "out" / "wide.png"))
    assert mask.shape == (260, 300) and set(np.unique(mask)) <= {0, 255}
    assert not (tmp_path / "out" / "broken.png").exists()


def test_lungs_cli_without_a_segmenter_says_so(use_trained_weights, kermany_test_dir, tmp_path):
    image = next((kermany_test_dir / "NORMAL").glob("*.jpeg"))
    done = subprocess.run(
        [sys.executable, "-m", "core", "lungs", str(image), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "no lung segmenter" in done.stderr and "Traceback" not in done.stderr


def test_segmenter_loads_from_safetensors_and_predicts_on_the_224_grid(limits_weights_dir):
    segmenter = LungSegmenter.load(limits_weights_dir)
    assert segmenter is not None and len(segmenter.version) == 12
    mask = segmenter.segment(body_with_marker("R")[:200, :180])
    assert mask.shape == (224, 224) and mask.dtype == bool
    assert isinstance(segmenter.model, LungUNet)


def test_fused_unet_gives_the_trained_maps():
    """Inference folds BatchNorm into the convs; the map must be the unfused model's, not an approximation."""
    torch.manual_seed(1)
    model = LungUNet(base=4)
    for module in model.modules():  # non-trivial statistics, or folding would be an identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.inference_mode():
        expected = model(x)
        fused = fused_for_inference(copy.deepcopy(model))
        got = fused(x.contiguous(memory_format=torch.channels_last))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert torch.allclose(got, expected, atol=1e-4)
