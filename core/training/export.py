"""Turn a finished training run into weights/: calibrate, pick the threshold, store fp16, describe.

Temperature, threshold, the uncertainty band and the input guard's limit are fitted on the
validation split only (the guard's means/covariance on the training split); the test folder is
read afterwards to report — and its per-image predictions are stored for the Model Card —
never to choose anything.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.evaluation.metrics import classification_report
from core.evaluation.model_card import TEST_PREDICTIONS_FILE
from core.imaging.preprocess import INPUT_SIZE, PIXEL_MEAN, PIXEL_STD
from core.models.classifier import build_resnet34, load_classifier
from core.models.weights import META_FILE, WEIGHTS_FILE, load_state_dict, sha256_file
from core.reliability.input_check import fit_guard, logits_and_features, save_guard
from core.reliability.uncertainty import fit_band
from core.training import dataset
from core.training.train_classifier import (
    TrainConfig,
    fit_temperature,
    predict_logits,
    probs_from_logits,
    youden_threshold,
)
from core.vocabulary import CLASS_NAMES


def predict_folder(model: torch.nn.Module, folder: Path, temperature: float) -> dict:
    """Per-image labels, raw logits and calibrated P(pneumonia) for a NORMAL/ + PNEUMONIA/ folder."""
    samples = dataset.list_labelled(folder)
    if not samples:
        raise ValueError(f"{folder} has no images under NORMAL/ or PNEUMONIA/")
    logits = predict_logits(model, dataset.load_pixels(samples, cache=False))
    return {
        "files": [f"{s.path.parent.name}/{s.path.name}" for s in samples],
        "labels": [int(s.label) for s in samples],
        "logits": np.round(logits.astype(float), 5).tolist(),
        "probability": np.round(probs_from_logits(logits, temperature).astype(float), 6).tolist(),
        "temperature": temperature,
    }


def evaluate_folder(model: torch.nn.Module, folder: Path, temperature: float, threshold: float) -> dict:
    preds = predict_folder(model, folder, temperature)
    return classification_report(preds["labels"], preds["probability"], threshold)


def write_test_predictions(weights_dir: Path, preds: dict, threshold: float, folder_name: str) -> Path:
    """What the Model Card needs to compute intervals, ROC and the threshold explorer without the model."""
    path = Path(weights_dir) / TEST_PREDICTIONS_FILE
    payload = {
        "folder": folder_name,
        "weights_sha256": sha256_file(Path(weights_dir) / WEIGHTS_FILE),
        "threshold": threshold,
        **preds,
    }
    path.write_text(json.dumps(payload))
    return path


def fit_guard_and_band(
    model: torch.nn.Module,
    train_px: np.ndarray,
    train_y: np.ndarray,
    val_px: np.ndarray,
    val_y: np.ndarray,
    temperature: float,
    threshold: float,
    progress: bool = False,
):
    """The input guard (features of train, limit from val) and the uncertainty band (val probabilities)."""
    _, train_f = logits_and_features(model, train_px, progress="guard: train features" if progress else None)
    val_logits, val_f = logits_and_features(model, val_px, progress="guard: validation features" if progress else None)
    guard = fit_guard(train_f, train_y, val_f)
    band = fit_band(val_y, probs_from_logits(val_logits, temperature), threshold)
    return guard, band


def install_guard_and_band(weights_dir: Path, guard, band: dict) -> dict:
    """Write input_guard.safetensors and record both in classifier.json (read back, updated, rewritten)."""
    meta_path = Path(weights_dir) / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    meta["input_guard"] = save_guard(guard, weights_dir, sha256_file(Path(weights_dir) / WEIGHTS_FILE))
    meta["uncertainty"] = band
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


def _stratified_subsample(samples: list, limit: int | None) -> list:
    if not limit or len(samples) <= limit:
        return samples
    return samples[:: int(np.ceil(len(samples) / limit))]


def fit_guard_for_weights(weights_dir: Path, max_train: int | None = None, cache: bool = True) -> dict:
    """`python -m core fit-guard`: fit guard + band for the weights already in weights_dir."""
    model, info = load_classifier(weights_dir)
    if not info.trained:
        raise ValueError(f"{weights_dir} holds no trained classifier ({WEIGHTS_FILE} is missing)")
    training = info.meta.get("training", {})
    samples = dataset.list_labelled(dataset.KERMANY / "train")
    if not samples:
        raise ValueError(f"no training images under {dataset.KERMANY / 'train'}")
    train_s, val_s = dataset.patient_split(
        samples, training.get("val_fraction", TrainConfig.val_fraction), training.get("seed", TrainConfig.seed)
    )
    train_s = _stratified_subsample(train_s, max_train)
    guard, band = fit_guard_and_band(
        model,
        dataset.load_pixels(train_s, cache=cache),
        np.array([s.label for s in train_s]),
        dataset.load_pixels(val_s, cache=cache),
        np.array([s.label for s in val_s]),
        info.temperature,
        info.threshold,
        progress=True,
    )
    return install_guard_and_band(weights_dir, guard, band)


def calibrated_nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Validation NLL after temperature scaling: compares label-smoothed and sharp epochs fairly."""
    t = fit_temperature(logits, labels)
    return float(torch.nn.functional.cross_entropy(torch.from_numpy(logits) / t, torch.from_numpy(labels)).item())


def select_checkpoint(run_dir: Path) -> tuple[Path, int, list[dict]]:
    """The per-epoch snapshot (the EMA copy when the run kept one) with the lowest calibrated NLL on
    validation, averaged with the shifted validation slice; validation only. Older runs without
    snapshots export last.pt."""
    from core.training.train_classifier import shifted_slice

    run_dir = Path(run_dir)
    last = torch.load(run_dir / "last.pt", weights_only=False, map_location="cpu")
    snapshots = sorted(run_dir.glob("epoch-*.pt"))
    if not snapshots:
        return run_dir / "last.pt", last["history"][-1]["epoch"], []
    config = last["config"]
    samples = dataset.list_labelled(dataset.KERMANY / "train")
    train_s, val_s = dataset.patient_split(samples, config["val_fraction"], config["seed"])
    val_px, val_y = dataset.load_pixels(val_s), np.array([s.label for s in val_s])
    shift = shifted_slice(dataset.load_pixels(train_s), val_px)
    table: list[dict[str, Any]] = []
    for path in snapshots:
        model = build_resnet34()
        model.load_state_dict(torch.load(path, weights_only=False, map_location="cpu")["model"])
        model.eval().to(memory_format=torch.channels_last)
        logits = predict_logits(model, val_px)
        table.append(
            {
                "epoch": int(path.stem.split("-")[1]),
                "file": path.name,
                "val_nll_calibrated": round(calibrated_nll(logits, val_y), 4),
                "shift_nll_calibrated": round(calibrated_nll(logits[shift], val_y[shift]), 4),
            }
        )
        table[-1]["selection_loss"] = round(
            (table[-1]["val_nll_calibrated"] + table[-1]["shift_nll_calibrated"]) / 2, 4
        )
    best = min(table, key=lambda r: r["selection_loss"])
    return run_dir / best["file"], best["epoch"], table


def _describe_training(config: dict) -> dict:
    augmentation = config.get("augmentation", "v1")
    text = {
        "optimizer": f"AdamW, one-cycle max_lr {config['max_lr']} (warm-up {config.get('pct_start', 0.25):.0%}), "
        f"weight decay {config['weight_decay']}",
        "loss": "cross-entropy with inverse-frequency class weights"
        + (f", label smoothing {config['label_smoothing']}" if config.get("label_smoothing") else ""),
        "augmentation": (
            "gamma/contrast/brightness, rotation ±8°, zoom, aspect, shift, noise, occlusion box; no horizontal flip"
            if augmentation == "v1"
            else "strong: wider gamma/contrast/brightness, unsharp-mask sharpening or softening and "
            "histogram-equalisation blends (other sites' processing), rotation ±10°, zoom 0.8–1.15, "
            "aspect ±15 %, shift ±8 %, noise, occlusion box; no horizontal flip"
        ),
    }
    if config.get("ema_decay"):
        text["weight_averaging"] = (
            f"exponential moving average of weights and BatchNorm buffers, decay {config['ema_decay']} per step"
        )
    if config.get("init_weights"):
        text["initialisation"] = (
            f"fine-tuned from this project's earlier model (sha256 {config.get('init_sha256', '')[:12]}), "
            "itself trained from scratch here; no pretrained weights"
        )
    return text


def export_run(
    checkpoint: Path,
    weights_dir: Path,
    report_test: bool = True,
    previous: dict | None = None,
    selection: list[dict] | None = None,
) -> dict:
    """Calibrate and install one checkpoint; `previous` (the replaced model's card) is kept beside the new one."""
    ckpt = torch.load(checkpoint, weights_only=False, map_location="cpu")
    run_last = Path(checkpoint).with_name("last.pt")
    # A per-epoch snapshot carries the history up to its epoch; the run's record is the whole run.
    run = torch.load(run_last, weights_only=False, map_location="cpu") if run_last.is_file() else ckpt
    model = build_resnet34()
    model.load_state_dict(ckpt["model"])
    model.eval().to(memory_format=torch.channels_last)

    samples = dataset.list_labelled(dataset.KERMANY / "train")
    config = ckpt["config"]
    _, val_s = dataset.patient_split(samples, config["val_fraction"], config["seed"])
    val_set = set(val_s)
    val_logits = predict_logits(model, dataset.load_pixels(val_s))
    val_y = np.array([s.label for s in val_s])
    temperature = fit_temperature(val_logits, val_y)
    val_prob = probs_from_logits(val_logits, temperature)
    threshold = youden_threshold(val_y, val_prob)
    val_uncalibrated = classification_report(val_y, probs_from_logits(val_logits), 0.5)

    from safetensors.torch import save_file

    weights_dir.mkdir(parents=True, exist_ok=True)
    weights_path = weights_dir / WEIGHTS_FILE
    # channels_last tensors are not contiguous, and safetensors stores only contiguous ones.
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights_path), metadata={"format": "pt", "architecture": "torchvision.resnet34"})

    # The shipped model is the fp16 one: measure what users get.
    shipped = build_resnet34()
    shipped.load_state_dict(load_state_dict(weights_path))
    shipped.eval().to(memory_format=torch.channels_last)
    fp16_gap = float(
        np.abs(probs_from_logits(predict_logits(shipped, dataset.load_pixels(val_s)), temperature) - val_prob).max()
    )
    meta: dict[str, Any] = {
        "architecture": "torchvision.models.resnet34(num_classes=2), trained from scratch (no pretrained weights)",
        "class_names": list(CLASS_NAMES),
        "input": {
            "size": [INPUT_SIZE, INPUT_SIZE],
            "channels": "grayscale repeated to 3",
            "preprocessing": "core.imaging.decode.load_image → resize to 224×224 (bilinear, aspect not kept) → /255 → (x−mean)/std",
            "pixel_mean": PIXEL_MEAN,
            "pixel_std": PIXEL_STD,
        },
        "calibration": {
            "method": "temperature scaling on validation",
            "temperature": temperature,
            "val_ece_before": val_uncalibrated["ece"],
            "val_ece_after": classification_report(val_y, val_prob, threshold)["ece"],
        },
        "decision_threshold": threshold,
        "threshold_rule": "Youden's J on the validation split",
        "weights_sha256": sha256_file(weights_path),
        "weights_storage": "float16 safetensors",
        "fp16_max_probability_change_on_val": fp16_gap,
        "training": {
            "data": "kermany224/train (official training split)",
            "file_list_sha256": dataset.file_list_hash(samples),
            "split": f"by patient (and byte-identical duplicates), {config['val_fraction']:.0%} validation, seed {config['seed']}",
            "val_fraction": config["val_fraction"],
            "seed": config["seed"],
            "counts": {
                "train": {n: sum(s.label == i for s in samples if s not in val_set) for i, n in enumerate(CLASS_NAMES)},
                "validation": {n: sum(s.label == i for s in val_s) for i, n in enumerate(CLASS_NAMES)},
            },
            "schedule": config["schedule"],
            "epochs": len(run["history"]),
            "batch_size": config["batch_size"],
            **_describe_training(config),
            "selected_epoch": ckpt["history"][-1]["epoch"],
            "selection_rule": "lowest mean of calibrated validation NLL and calibrated shifted-slice NLL (validation only)",
            **({"selection": selection} if selection else {}),
            "wall_time_minutes": round(run["elapsed"] / 60, 1),
            "history": run["history"],
            "torch": torch.__version__,
            "machine": f"{platform.machine()} CPU",
        },
        "metrics": {"validation": classification_report(val_y, val_prob, threshold)},
        "date": dt.date.today().isoformat(),
    }
    test_preds = None
    if report_test and (dataset.KERMANY / "test").is_dir():
        test_preds = predict_folder(shipped, dataset.KERMANY / "test", temperature)
        meta["metrics"]["test"] = classification_report(test_preds["labels"], test_preds["probability"], threshold)
        meta["metrics"]["test"]["ece_uncalibrated"] = classification_report(
            test_preds["labels"], probs_from_logits(np.array(test_preds["logits"])), threshold
        )["ece"]
    if previous:
        meta["previous_model"] = previous
    (weights_dir / META_FILE).write_text(json.dumps(meta, indent=2))
    if test_preds is not None:
        write_test_predictions(weights_dir, test_preds, threshold, "kermany224/test")
    train_s = [s for s in samples if s not in val_set]
    guard, band = fit_guard_and_band(
        shipped,
        dataset.load_pixels(train_s),
        np.array([s.label for s in train_s]),
        dataset.load_pixels(val_s),
        val_y,
        temperature,
        threshold,
        progress=True,
    )
    return install_guard_and_band(weights_dir, guard, band)


def previous_model_card(weights_dir: Path) -> dict | None:
    """What the Model Card keeps of the model about to be replaced: its figures and test predictions."""
    meta_path = Path(weights_dir) / META_FILE
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    card = {
        "model_version": meta["weights_sha256"][:12],
        "weights_sha256": meta["weights_sha256"],
        "date": meta.get("date"),
        "metrics": meta.get("metrics", {}),
        "decision_threshold": meta.get("decision_threshold"),
        "calibration": meta.get("calibration"),
        "training": {k: meta.get("training", {}).get(k) for k in ("schedule", "epochs", "wall_time_minutes")},
        "input_check_eval": meta.get("input_check_eval"),
    }
    preds_path = Path(weights_dir) / TEST_PREDICTIONS_FILE
    if preds_path.is_file():
        preds = json.loads(preds_path.read_text())
        card["test_predictions"] = {"labels": preds["labels"], "probability": preds["probability"]}
    return card
