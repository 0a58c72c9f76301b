"""`python -m db bench-import`: how fast the library import stores cases with every figure.

Imports held-out X-rays from kermany224/test (reading them tunes nothing) into a fresh temporary
SQLite library (or an EMPTY database given by URL) through the same `import_folder` path as
`python -m db import` and the demo seed: decode, prediction, Grad-CAM, input check, limits probe,
PNG and CAM encoding, one transaction per batch. The torch batch-1 forward pass is timed in the same
run, so the ratio holds whatever else the machine is doing.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from core.imaging.decode import load_image
from core.imaging.preprocess import to_model_input
from core.model_service import ModelService
from core.services.library_import import DEFAULT_BATCH, import_folder
from core.training import dataset
from db.engine import ensure_library, forget_engine

TARGET_RATIO = 4.0  # issue 17: one case with every figure ≤ 4 torch forward passes


def _sample_folder(root: Path, n: int) -> Path:
    """n X-rays of both classes, evenly spaced through kermany224/test, linked into NORMAL/ and PNEUMONIA/."""
    samples = dataset.list_labelled(dataset.KERMANY / "test") or dataset.list_labelled(dataset.KERMANY / "train")
    if not samples:
        raise SystemExit(f"no images found under {dataset.KERMANY}")
    chosen = samples[:: max(len(samples) // n, 1)][:n]
    for sample in chosen:
        target = root / sample.path.parent.name / sample.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(sample.path.resolve())
    return root


def _torch_forward_ms(service: ModelService, folder: Path, n: int = 8, repeats: int = 3) -> float:
    tensors = [to_model_input(load_image(p.read_bytes()).pixels) for p in sorted(folder.rglob("*.jpeg"))[:n]]
    times = []
    with torch.inference_mode():
        service.model(tensors[0])
        for _ in range(repeats):
            for x in tensors:
                t0 = time.perf_counter()
                service.model(x)
                times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run_import_bench(n_cases: int = 64, batch_size: int = DEFAULT_BATCH, url: str | None = None) -> dict:
    service = ModelService()
    if not service.info.trained:
        raise SystemExit("no trained model is installed: an import would store no predictions to time")
    with tempfile.TemporaryDirectory(prefix="cxr-bench-import-") as tmp:
        folder = _sample_folder(Path(tmp) / "cases", n_cases)
        url = url or f"sqlite:///{Path(tmp) / 'library.db'}"
        engine = ensure_library(url)
        try:
            forward_before = _torch_forward_ms(service, folder)
            summary = import_folder(engine, folder, service, batch_size=batch_size, source="bench-import")
            forward_after = _torch_forward_ms(service, folder)
        finally:
            engine.dispose()
            forget_engine(url)
    forward_ms = statistics.median([forward_before, forward_after])
    per_case_ms = summary.seconds * 1000 / max(summary.added, 1)
    return {
        "cases": summary.added,
        "refused": len(summary.refused),
        "predictions": summary.predictions_added,
        "batch_size": batch_size,
        "backend": url.split(":", 1)[0],
        "prediction_runtime": str(service.runtime_status),
        "seconds": round(summary.seconds, 2),
        "cases_per_second": round(summary.added / summary.seconds, 2) if summary.seconds else None,
        "ms_per_case": round(per_case_ms, 1),
        "p50_ms_forward": round(forward_ms, 2),
        "ratio_import_per_case_vs_forward": round(per_case_ms / forward_ms, 3),
        "targets": {"ratio_import_per_case_vs_forward": TARGET_RATIO},
    }
