"""The classifier: torchvision ResNet34 with two classes, loaded once from weights/."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet34

from core.preprocess import INPUT_SIZE, normalize, resize_gray

CLASS_NAMES = ("NORMAL", "PNEUMONIA")
PNEUMONIA = CLASS_NAMES.index("PNEUMONIA")
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
WEIGHTS_FILE = "classifier.safetensors"
META_FILE = "classifier.json"
PLACEHOLDER_VERSION = "placeholder-untrained"


def default_weights_dir() -> Path:
    """weights/ in the repo; CXR_WEIGHTS_DIR points tests and other installs elsewhere."""
    return Path(os.environ.get("CXR_WEIGHTS_DIR", WEIGHTS_DIR))


def build_resnet34() -> nn.Module:
    return resnet34(weights=None, num_classes=len(CLASS_NAMES))


def trunk_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ResNet34 up to and including layer4: the (B, 512, h, w) map Grad-CAM looks at."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def head_logits(model: nn.Module, features: torch.Tensor) -> torch.Tensor:
    return model.fc(torch.flatten(model.avgpool(features), 1))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """safetensors (no pickle); fp16 storage is widened back to fp32."""
    from safetensors.torch import load_file

    return {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}


@dataclass
class ClassifierInfo:
    version: str
    trained: bool
    temperature: float = 1.0
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)


def load_classifier(weights_dir: Path) -> tuple[nn.Module, ClassifierInfo]:
    """The trained model if weights/ has one, else a seeded untrained placeholder.

    The placeholder exists so tests and the UI can run before training lands; it is
    flagged `trained=False` and its output must never be shown as a prediction.
    """
    model = build_resnet34()
    weights = Path(weights_dir) / WEIGHTS_FILE
    meta_path = Path(weights_dir) / META_FILE
    if weights.is_file():
        model.load_state_dict(load_state_dict(weights))
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        calibration = meta.get("calibration", {})
        info = ClassifierInfo(
            version=sha256_file(weights)[:12],
            trained=True,
            temperature=float(calibration.get("temperature", 1.0)),
            threshold=float(meta.get("decision_threshold", 0.5)),
            meta=meta,
        )
    else:
        torch.manual_seed(0)
        model = build_resnet34()
        info = ClassifierInfo(version=PLACEHOLDER_VERSION, trained=False)
    model.eval().to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, info


@dataclass
class ModelOutput:
    probability: np.ndarray  # calibrated P(pneumonia), shape (B,)
    logits: np.ndarray  # raw logits (B, 2)
    features: torch.Tensor  # layer4 output, for the CAM


class ModelService:
    """Loaded once per process (the app caches one instance for every session)."""

    def __init__(self, weights_dir: Path | None = None):
        from core.guard import load_guard

        self.weights_dir = Path(weights_dir or default_weights_dir())
        self.model, self.info = load_classifier(self.weights_dir)
        # The input guard is fitted for one set of weights; a stale one is not loaded.
        sha = sha256_file(self.weights_dir / WEIGHTS_FILE) if self.info.trained else None
        self.guard, self.guard_status = load_guard(self.weights_dir, sha)
        from core.limits import Thresholds
        from core.lungs import LungSegmenter

        # The lung segmenter and the shortcut-flag thresholds serve the model-limits probe.
        self.segmenter = LungSegmenter.load(self.weights_dir)
        self.limit_thresholds = Thresholds.load(self.weights_dir, sha)

    @property
    def version(self) -> str:
        return self.info.version

    def label_for(self, probability: float) -> str:
        return CLASS_NAMES[PNEUMONIA] if probability >= self.info.threshold else CLASS_NAMES[0]

    @torch.inference_mode()
    def forward(self, batch: torch.Tensor) -> ModelOutput:
        features = trunk_features(self.model, batch)
        logits = head_logits(self.model, features)
        probs = F.softmax(logits / self.info.temperature, dim=1)[:, PNEUMONIA]
        return ModelOutput(probs.numpy(), logits.numpy(), features)

    def predict_grays(self, grays: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Calibrated P(pneumonia) for many images, batched."""
        out = []
        for start in range(0, len(grays), batch_size):
            chunk = [resize_gray(g, INPUT_SIZE) for g in grays[start : start + batch_size]]
            batch = normalize(torch.from_numpy(np.stack(chunk))[:, None])
            out.append(self.forward(batch).probability)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
