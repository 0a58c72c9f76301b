"""The classifier: torchvision ResNet34 with two classes, its forward pass in two halves, and loading it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torchvision.models import ResNet, resnet34

from core.models.weights import META_FILE, WEIGHTS_FILE, load_state_dict, sha256_file
from core.vocabulary import CLASS_NAMES, PLACEHOLDER_VERSION


def build_resnet34() -> ResNet:
    return resnet34(weights=None, num_classes=len(CLASS_NAMES))


def trunk_features(model: ResNet, x: torch.Tensor) -> torch.Tensor:
    """ResNet34 up to and including layer4: the (B, 512, h, w) map Grad-CAM looks at."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def head_logits(model: ResNet, features: torch.Tensor) -> torch.Tensor:
    return model.fc(torch.flatten(model.avgpool(features), 1))


@dataclass
class ClassifierInfo:
    version: str
    trained: bool
    temperature: float = 1.0
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)


def load_classifier(weights_dir: Path) -> tuple[ResNet, ClassifierInfo]:
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
