"""The kermany224 folders: listing, patient-level split, and an in-memory pixel cache."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import settings
from core.imaging.decode import load_image
from core.imaging.preprocess import resize_gray
from core.vocabulary import CLASS_NAMES

SHARED_DATA = settings.shared_data_dir()
KERMANY = SHARED_DATA / "kermany224"
CACHE_DIR = settings.cache_dir()
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".dcm"}

_PATIENT = re.compile(r"^(person\d+|NORMAL2-IM-\d+|IM-\d+)")


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # index into CLASS_NAMES


def patient_id(filename: str) -> str:
    """`person12_bacteria_3.jpeg` → person12; `NORMAL2-IM-0095-0001.jpeg` → NORMAL2-IM-0095."""
    match = _PATIENT.match(Path(filename).name)
    return match.group(1) if match else Path(filename).stem


def list_labelled(folder: Path) -> list[Sample]:
    """Images under folder/NORMAL and folder/PNEUMONIA, sorted for determinism."""
    samples = []
    for label, name in enumerate(CLASS_NAMES):
        sub = Path(folder) / name
        if sub.is_dir():
            samples += [Sample(p, label) for p in sorted(sub.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    return samples


def file_list_hash(samples: list[Sample]) -> str:
    """Hash of names, labels and sizes: identifies the training set in the model card."""
    digest = hashlib.sha256()
    for s in samples:
        digest.update(f"{s.path.parent.name}/{s.path.name}:{s.label}:{s.path.stat().st_size}\n".encode())
    return digest.hexdigest()


def patient_split(samples: list[Sample], val_fraction: float = 0.12, seed: int = 0):
    """Hold out whole patients (and every byte-identical copy of their images) for validation.

    Grouping by content hash as well keeps the dataset's duplicate images from leaking
    across the split. Stratified per class so validation keeps the class mix.
    """
    parent: dict[str, str] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_hash: dict[str, str] = {}
    for s in samples:
        pid = f"{s.label}:{patient_id(s.path.name)}"
        h = hashlib.sha256(s.path.read_bytes()).hexdigest()
        if h in by_hash:
            parent[find(pid)] = find(by_hash[h])
        else:
            by_hash[h] = pid
        find(pid)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(find(f"{s.label}:{patient_id(s.path.name)}"), []).append(i)
    rng = np.random.default_rng(seed)
    val_idx: list[int] = []
    for label in range(len(CLASS_NAMES)):
        keys = sorted(k for k, idx in groups.items() if samples[idx[0]].label == label)
        rng.shuffle(keys)
        target = val_fraction * sum(len(groups[k]) for k in keys)
        taken = 0
        for k in keys:
            if taken >= target:
                break
            val_idx += groups[k]
            taken += len(groups[k])
    val_set = set(val_idx)
    train = [s for i, s in enumerate(samples) if i not in val_set]
    val = [s for i, s in enumerate(samples) if i in val_set]
    return train, val


def load_pixels(samples: list[Sample], size: int = 224, cache: bool = True) -> np.ndarray:
    """(N, size, size) uint8 through the same decoder as uploads; cached on disk by file list."""
    key = hashlib.sha256(f"{size}:{file_list_hash(samples)}".encode()).hexdigest()[:16]
    path = CACHE_DIR / f"pixels-{key}.npy"
    if cache and path.is_file():
        return np.load(path)
    from tqdm import tqdm

    out = np.empty((len(samples), size, size), dtype=np.uint8)
    for i, s in enumerate(tqdm(samples, desc="decoding", unit="img", leave=False)):
        out[i] = resize_gray(load_image(s.path.read_bytes()).pixels, size)
    if cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    return out
