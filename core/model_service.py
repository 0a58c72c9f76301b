"""The model service: the classifier with its input check, lung segmenter and flag thresholds, loaded once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.explain.limits import Thresholds
from core.imaging.preprocess import INPUT_SIZE, normalize, resize_gray
from core.models.classifier import ModelOutput, head_logits, load_classifier, trunk_features
from core.models.lungs import LungSegmenter
from core.models.weights import WEIGHTS_FILE, default_weights_dir, sha256_file
from core.reliability.input_check import load_guard
from core.vocabulary import CLASS_NAMES, PNEUMONIA


class ModelService:
    """Loaded once per process (the app caches one instance for every session)."""

    def __init__(self, weights_dir: Path | None = None):
        self.weights_dir = Path(weights_dir or default_weights_dir())
        self.model, self.info = load_classifier(self.weights_dir)
        # The input guard is fitted for one set of weights; a stale one is not loaded.
        sha = sha256_file(self.weights_dir / WEIGHTS_FILE) if self.info.trained else None
        self.guard, self.guard_status = load_guard(self.weights_dir, sha)
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
