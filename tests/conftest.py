"""Shared fixtures: real images from ../shared, and a weights folder in the trained format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.models.classifier import build_resnet34
from core.models.weights import META_FILE, WEIGHTS_FILE
from core.training import dataset

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory, monkeypatch):
    """Every test gets its own empty library and no API key: nothing leaks between tests or
    into the developer's own data/library.db. Tests that need more set it themselves."""
    monkeypatch.setenv("CXR_DATA_DIR", str(tmp_path_factory.mktemp("library")))
    monkeypatch.setenv("CXR_SEED_DEMO", "0")
    for name in (
        "DATABASE_URL",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",  # no test may reach the real service or pick up a developer's key
        "CXR_GEMINI_MODEL",
        "CXR_GEMINI_TIMEOUT_S",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def kermany_test_dir() -> Path:
    folder = dataset.KERMANY / "test"
    assert folder.is_dir(), f"{folder} is missing: tests read ../shared/data (CI has it beside the clone)"
    return folder


@pytest.fixture(scope="session")
def xray_bytes(kermany_test_dir) -> bytes:
    return (kermany_test_dir / "PNEUMONIA").glob("*.jpeg").__next__().read_bytes()


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and BatchNorm statistics, so no test depends on an identity-like net."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                if name.endswith("running_var"):
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
                else:
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * (0.05 if "conv" in name else 0.2))
    return model


@pytest.fixture(scope="session")
def trained_weights_dir(tmp_path_factory) -> Path:
    """A weights/ folder with random weights saved exactly as training exports them (fp16 safetensors + JSON)."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("weights")
    model = randomise(build_resnet34(), seed=1)
    save_file(
        {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, str(folder / WEIGHTS_FILE)
    )
    (folder / META_FILE).write_text(
        json.dumps({"architecture": "resnet34", "calibration": {"temperature": 1.5}, "decision_threshold": 0.5})
    )
    return folder


@pytest.fixture
def use_trained_weights(trained_weights_dir, monkeypatch) -> Path:
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(trained_weights_dir))
    return trained_weights_dir


@pytest.fixture
def use_placeholder(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CXR_WEIGHTS_DIR", str(tmp_path))  # empty: no trained model
    return tmp_path


@pytest.fixture(scope="session")
def exported_weights_dir(tmp_path_factory) -> Path:
    """A weights/ folder made by the real `core.export.export_run` from a random-weights checkpoint.

    kermany224 is swapped for a small copy (60 train, 24 test images) so the whole export —
    calibration, threshold, fp16 storage, test predictions, input guard, uncertainty band —
    runs in seconds; the pixel cache goes to a temporary folder.
    """
    import shutil
    from dataclasses import asdict

    from core.training.export import export_run
    from core.training.train_classifier import TrainConfig

    root = tmp_path_factory.mktemp("export")
    mini = root / "kermany224"
    for split, per_class in (("train", 30), ("test", 12)):
        for name in ("NORMAL", "PNEUMONIA"):
            (mini / split / name).mkdir(parents=True)
            for src in sorted((dataset.KERMANY / split / name).glob("*.jpeg"))[:per_class]:
                shutil.copy(src, mini / split / name / src.name)
    checkpoint = root / "last.pt"
    torch.save(
        {
            "model": randomise(build_resnet34(), seed=1).state_dict(),
            "config": asdict(TrainConfig(schedule="128x1", val_fraction=0.25)),
            "history": [{"epoch": 1, "res": 128, "train_loss": 0.7}],
            "elapsed": 60.0,
            "epoch": 0,
        },
        checkpoint,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dataset, "KERMANY", mini)
        mp.setattr(dataset, "CACHE_DIR", root / "cache")
        export_run(checkpoint, root / "weights")
    return root / "weights"


@pytest.fixture(scope="session")
def limits_weights_dir(trained_weights_dir, tmp_path_factory) -> Path:
    """The random trained-format classifier plus a random lung U-Net: the limits probe runs end to end."""
    import shutil

    from safetensors.torch import save_file

    from core.models.lungs import LUNG_WEIGHTS, LungUNet

    folder = tmp_path_factory.mktemp("weights-limits")
    for item in trained_weights_dir.iterdir():
        shutil.copy(item, folder / item.name)
    unet = randomise(LungUNet(base=8), seed=2)
    save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, str(folder / LUNG_WEIGHTS))
    (folder / "lungs.json").write_text(json.dumps({"base_channels": 8}))
    return folder
