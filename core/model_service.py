"""The model service: the classifier with its input check, lung segmenter and flag thresholds, loaded once."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from core import settings
from core.explain.limits import Thresholds
from core.imaging.preprocess import INPUT_SIZE, normalize, resize_gray
from core.models.classifier import ModelOutput, head_logits, load_classifier, trunk_features
from core.models.lungs import LungSegmenter
from core.models.runtime import OnnxRuntime, RuntimeLogits, RuntimeStatus, load_runtime
from core.models.weights import WEIGHTS_FILE, default_weights_dir, sha256_file
from core.reliability.input_check import load_guard
from core.vocabulary import CLASS_NAMES, PNEUMONIA


def calibrated_probability(logits: np.ndarray, temperature: float) -> np.ndarray:
    """P(pneumonia) from (B, 2) logits: softmax at the fitted temperature, in float32 as torch computes it.

    NumPy, not torch: two numbers per image do not need torch's thread pool, which is slow to wake.
    """
    z = np.asarray(logits, dtype=np.float32) / np.float32(temperature)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return (z[:, PNEUMONIA] / z.sum(axis=1)).astype(np.float32)


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
        # Predictions run on the CPU runtime when its export matches these weights; torch otherwise.
        self.runtime: OnnxRuntime | None = None
        self.runtime_status = self.use_runtime(settings.runtime() if sha else "torch", sha)

    def use_runtime(self, wanted: str, sha: str | None = None) -> RuntimeStatus:
        """Switch the prediction path: "auto" (the runtime if its export is current) or "torch"."""
        if wanted != "torch" and sha is None:
            sha = sha256_file(self.weights_dir / WEIGHTS_FILE) if self.info.trained else None
        if sha is None:
            wanted = "torch"
        self.runtime, self.runtime_status = load_runtime(
            self.weights_dir, sha or "", self.segmenter is not None, wanted
        )
        if self.segmenter is not None:
            self.segmenter.runtime = self.runtime if self.runtime is not None and self.runtime.lungs else None
        if wanted == "auto" and self.runtime is None:
            logging.getLogger(__name__).info("predictions run on %s", self.runtime_status)
        return self.runtime_status

    @property
    def logits_model(self):
        """What forward-only checks call for logits: the runtime when it is active, else the torch model."""
        return RuntimeLogits(self.runtime) if self.runtime is not None else self.model

    @property
    def version(self) -> str:
        return self.info.version

    def label_for(self, probability: float) -> str:
        return CLASS_NAMES[PNEUMONIA] if probability >= self.info.threshold else CLASS_NAMES[0]

    @torch.inference_mode()
    def forward(self, batch: torch.Tensor) -> ModelOutput:
        if self.runtime is not None:
            raw_logits, raw_features = self.runtime.classify(batch.numpy())
            logits, features = torch.from_numpy(raw_logits), torch.from_numpy(raw_features)
        else:
            features = trunk_features(self.model, batch)
            logits = head_logits(self.model, features)
        return ModelOutput(calibrated_probability(logits.numpy(), self.info.temperature), logits.numpy(), features)

    def predict_grays(self, grays: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Calibrated P(pneumonia) for many images, batched."""
        out = []
        for start in range(0, len(grays), batch_size):
            chunk = [resize_gray(g, INPUT_SIZE) for g in grays[start : start + batch_size]]
            batch = normalize(torch.from_numpy(np.stack(chunk))[:, None])
            out.append(self.forward(batch).probability)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
