"""The weights folder: where it is, the files in it, and reading safetensors without pickle."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from core import settings

WEIGHTS_FILE = "classifier.safetensors"
META_FILE = "classifier.json"


def default_weights_dir() -> Path:
    return settings.weights_dir()


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
