"""The ONNX Runtime prediction path: exported from the committed weights, equal to torch, never used when stale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.analysis import analyze_batch
from core.evaluation.runtime_export import export_runtime
from core.imaging.decode import load_image
from core.model_service import ModelService
from core.models import runtime as rt
from core.training import dataset

REPO = Path(__file__).resolve().parent.parent
COMMITTED = ("classifier.safetensors", "classifier.json", "lungs.safetensors", "lungs.json", "input_guard.safetensors")


def _weights_copy(folder: Path) -> Path:
    """The committed weights, linked into a folder of the test's own (the export writes beside them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in COMMITTED + ("limits.json",):
        (folder / name).symlink_to(REPO / "weights" / name)
    return folder


def _xrays(n: int) -> list:
    samples = dataset.list_labelled(dataset.KERMANY / "test")
    return [load_image(s.path.read_bytes()) for s in samples[:: len(samples) // n][:n]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, dict]:
    folder = _weights_copy(tmp_path_factory.mktemp("runtime") / "weights")
    service = ModelService(folder)
    assert service.runtime is None and service.runtime_status.reason.message == rt.NOT_EXPORTED
    grays = np.stack([g.pixels for g in _xrays(6)])
    from core.imaging.preprocess import resize_gray

    meta = export_runtime(service, np.stack([resize_gray(g) for g in grays]))
    return folder, meta


def test_the_export_is_tied_to_the_weights_and_checked_against_torch(exported):
    folder, meta = exported
    written = json.loads((folder / rt.RUNTIME_META).read_text())
    assert written == meta and meta["engine"] == "onnxruntime" and meta["format"] == rt.RUNTIME_FORMAT
    assert meta["classifier_sha256"] == rt.sha256_file(REPO / "weights" / "classifier.safetensors")
    assert meta["lungs_sha256"] == rt.sha256_file(REPO / "weights" / "lungs.safetensors")
    checked = meta["checked_against_torch"]
    assert checked["images"] == 6
    assert checked["max_abs_logit_diff"] < 1e-4 and checked["max_abs_cam_diff"] < 1e-3
    assert checked["max_abs_lung_probability_diff"] < 1e-4


def test_the_runtime_predicts_what_torch_predicts_on_real_xrays(exported):
    folder, _ = exported
    fast = ModelService(folder)
    reference = ModelService(folder)
    reference.use_runtime("torch")
    assert fast.runtime_status.active and fast.segmenter is not None and fast.segmenter.runtime is not None
    assert not reference.runtime_status.active and reference.segmenter.runtime is None
    assert fast.version == reference.version  # the model version stays the weights' hash
    images = _xrays(8)
    ours, theirs = analyze_batch(fast, images, with_limits=True), analyze_batch(reference, images, with_limits=True)
    for a, b in zip(ours, theirs):
        assert a.label == b.label and abs(a.probability - b.probability) < 1e-5
        assert np.abs(a.cam - b.cam).max() < 1e-4
        assert a.guard.verdict == b.guard.verdict and a.guard.stage == b.guard.stage
        assert abs(a.guard.distance - b.guard.distance) < 1e-3
        assert (a.limits.lung_mask != b.limits.lung_mask).mean() < 1e-3
        assert a.limits.metrics["flags"] == b.limits.metrics["flags"]
        for key in ("deletion_auc", "insertion_auc", "score"):
            assert abs(a.limits.metrics["faithfulness"][key] - b.limits.metrics["faithfulness"][key]) < 1e-3


def test_the_analyze_pages_faithfulness_curves_on_the_runtime_equal_torchs(exported):
    """The deletion/insertion curves (forward passes only) run on the runtime when it is active: the same figures."""
    from core.services.explanations import analysis_faithfulness

    folder, _ = exported
    fast = ModelService(folder)
    reference = ModelService(folder)
    reference.use_runtime("torch")
    assert isinstance(fast.logits_model, rt.RuntimeLogits) and reference.logits_model is reference.model
    for image in _xrays(2):
        analysis = analyze_batch(fast, [image], with_limits=True)[0]
        ours, theirs = analysis_faithfulness(fast, analysis), analysis_faithfulness(reference, analysis)
        assert ours.keys() == theirs.keys()
        for key in ("deletion", "insertion", "random_deletion", "random_insertion"):
            assert np.abs(np.subtract(ours[key], theirs[key])).max() < 1e-3, key
        for key in ("deletion_auc", "insertion_auc", "deletion_vs_random", "insertion_vs_random"):
            assert abs(ours[key] - theirs[key]) < 1e-3, key


def test_a_stale_tampered_or_missing_export_falls_back_to_torch_and_says_why(exported, tmp_path, monkeypatch):
    folder, meta = exported
    other = _weights_copy(tmp_path / "weights")
    for name in (rt.CLASSIFIER_ONNX, rt.LUNGS_ONNX):
        (other / name).write_bytes((folder / name).read_bytes())

    def status(meta_text: str | None):
        path = other / rt.RUNTIME_META
        path.unlink(missing_ok=True)
        if meta_text is not None:
            path.write_text(meta_text)
        service = ModelService(other)
        return service.runtime, service.runtime_status.reason.message

    assert status(json.dumps(meta))[0] is not None
    assert status(None) == (None, rt.NOT_EXPORTED)
    assert status(json.dumps({**meta, "classifier_sha256": "0" * 64})) == (None, rt.STALE)  # other weights
    assert status(json.dumps({**meta, "format": "onnx-0"})) == (None, rt.STALE)
    assert status("{not json")[1] == rt.UNREADABLE
    with open(other / rt.CLASSIFIER_ONNX, "ab") as fh:
        fh.write(b"\0")  # a changed file no longer matches the hash the export recorded
    assert status(json.dumps(meta)) == (None, rt.STALE)
    monkeypatch.setenv("CXR_RUNTIME", "torch")
    assert status(json.dumps(meta)) == (None, rt.TORCH_CHOSEN)


def test_an_export_further_from_torch_than_the_limits_is_refused_and_installs_nothing(tmp_path, monkeypatch):
    folder = _weights_copy(tmp_path / "weights")
    monkeypatch.setattr(rt, "MAX_LOGIT_DIFF", -1.0)  # nothing can be that close
    service = ModelService(folder)
    grays = np.random.default_rng(0).integers(0, 256, (2, 224, 224), dtype=np.uint8)
    with pytest.raises(RuntimeError, match="beyond the limits"):
        export_runtime(service, grays)
    assert not (folder / rt.RUNTIME_META).exists()
    assert ModelService(folder).runtime is None


def test_cli_export_runtime_exports_once_and_then_reports_it_current(tmp_path):
    folder = _weights_copy(tmp_path / "weights")
    cmd = [sys.executable, "-m", "core", "export-runtime", "--weights", str(folder), "--images", "2", "--if-stale"]
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["checked_against_torch"]["images"] == 2
    second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "current" in second.stdout


def test_the_one_thread_steps_around_the_network_equal_their_torch_forms():
    import torch
    import torch.nn.functional as F

    from core.explain.gradcam import upsample
    from core.imaging.preprocess import PIXEL_MEAN, PIXEL_STD, normalize
    from core.model_service import calibrated_probability

    rng = np.random.default_rng(0)
    u8 = torch.from_numpy(rng.integers(0, 256, (3, 1, 224, 224), dtype=np.uint8))
    reference = u8.float().div_(255.0).sub_(PIXEL_MEAN).div_(PIXEL_STD).expand(-1, 3, -1, -1)
    ours = normalize(u8)
    assert torch.equal(ours, reference) and ours.is_contiguous(memory_format=torch.channels_last)
    for shape, size in (((7, 7), (224, 224)), ((7, 7), (1000, 850)), ((128, 128), (224, 224)), ((7, 7), (3, 5))):
        cam = rng.random(shape).astype(np.float32)
        torch_form = F.interpolate(torch.from_numpy(cam)[None, None], size=size, mode="bilinear", align_corners=False)
        # OpenCV's interpolation weights are rounded a little differently: ~1e-5 at most on a 0..1 map.
        assert np.abs(upsample(cam, *size) - torch_form[0, 0].clamp(0, 1).numpy()).max() < 5e-5
    logits = (rng.standard_normal((500, 2)) * 8).astype(np.float32)
    for temperature in (1.0, 1.37):
        softmax = F.softmax(torch.from_numpy(logits) / temperature, dim=1)[:, 1].numpy()
        assert np.abs(calibrated_probability(logits, temperature) - softmax).max() < 1e-6
