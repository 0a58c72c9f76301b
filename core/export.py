"""Turn a finished training run into weights/: calibrate, pick the threshold, store fp16, describe.

Temperature and threshold are fitted on the validation split only; the test folder is read
afterwards to report, never to choose anything.
"""
from __future__ import annotations

import datetime as dt
import json
import platform
from pathlib import Path

import numpy as np
import torch

from core import dataset
from core.metrics import classification_report
from core.model import CLASS_NAMES, META_FILE, WEIGHTS_FILE, build_resnet34, load_state_dict, sha256_file
from core.preprocess import INPUT_SIZE, PIXEL_MEAN, PIXEL_STD
from core.train import fit_temperature, predict_logits, probs_from_logits, youden_threshold


def evaluate_folder(model: torch.nn.Module, folder: Path, temperature: float, threshold: float) -> dict:
    samples = dataset.list_labelled(folder)
    if not samples:
        raise ValueError(f"{folder} has no images under NORMAL/ or PNEUMONIA/")
    logits = predict_logits(model, dataset.load_pixels(samples, cache=False))
    labels = np.array([s.label for s in samples])
    return classification_report(labels, probs_from_logits(logits, temperature), threshold)


def export_run(checkpoint: Path, weights_dir: Path, report_test: bool = True) -> dict:
    ckpt = torch.load(checkpoint, weights_only=False, map_location="cpu")
    model = build_resnet34()
    model.load_state_dict(ckpt["model"])
    model.eval().to(memory_format=torch.channels_last)

    samples = dataset.list_labelled(dataset.KERMANY / "train")
    config = ckpt["config"]
    _, val_s = dataset.patient_split(samples, config["val_fraction"], config["seed"])
    val_logits = predict_logits(model, dataset.load_pixels(val_s))
    val_y = np.array([s.label for s in val_s])
    temperature = fit_temperature(val_logits, val_y)
    val_prob = probs_from_logits(val_logits, temperature)
    threshold = youden_threshold(val_y, val_prob)
    val_uncalibrated = classification_report(val_y, probs_from_logits(val_logits), 0.5)

    from safetensors.torch import save_file

    weights_dir.mkdir(parents=True, exist_ok=True)
    weights_path = weights_dir / WEIGHTS_FILE
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    save_file(state, str(weights_path), metadata={"format": "pt", "architecture": "torchvision.resnet34"})

    # The shipped model is the fp16 one: measure what users get.
    shipped = build_resnet34()
    shipped.load_state_dict(load_state_dict(weights_path))
    shipped.eval().to(memory_format=torch.channels_last)
    fp16_gap = float(np.abs(probs_from_logits(predict_logits(shipped, dataset.load_pixels(val_s)), temperature) - val_prob).max())
    meta = {
        "architecture": "torchvision.models.resnet34(num_classes=2), trained from scratch",
        "class_names": list(CLASS_NAMES),
        "input": {"size": [INPUT_SIZE, INPUT_SIZE], "channels": "grayscale repeated to 3",
                  "preprocessing": "core.imaging.load_image → resize to 224×224 (bilinear, aspect not kept) → /255 → (x−mean)/std",
                  "pixel_mean": PIXEL_MEAN, "pixel_std": PIXEL_STD},
        "calibration": {"method": "temperature scaling on validation", "temperature": temperature,
                        "val_ece_before": val_uncalibrated["ece"],
                        "val_ece_after": classification_report(val_y, val_prob, threshold)["ece"]},
        "decision_threshold": threshold,
        "threshold_rule": "Youden's J on the validation split",
        "weights_sha256": sha256_file(weights_path),
        "weights_storage": "float16 safetensors",
        "fp16_max_probability_change_on_val": fp16_gap,
        "training": {
            "data": "kermany224/train (official training split)",
            "file_list_sha256": dataset.file_list_hash(samples),
            "split": f"by patient (and byte-identical duplicates), {config['val_fraction']:.0%} validation, seed {config['seed']}",
            "schedule": config["schedule"], "epochs": len(ckpt["history"]), "batch_size": config["batch_size"],
            "optimizer": f"AdamW, one-cycle max_lr {config['max_lr']}, weight decay {config['weight_decay']}",
            "loss": "cross-entropy with inverse-frequency class weights",
            "augmentation": "gamma/contrast/brightness, rotation ±8°, zoom, aspect, shift, noise, occlusion box; no horizontal flip",
            "wall_time_minutes": round(ckpt["elapsed"] / 60, 1),
            "history": ckpt["history"],
            "torch": torch.__version__, "machine": f"{platform.machine()} CPU",
        },
        "metrics": {"validation": classification_report(val_y, val_prob, threshold)},
        "date": dt.date.today().isoformat(),
    }
    if report_test and (dataset.KERMANY / "test").is_dir():
        meta["metrics"]["test"] = evaluate_folder(shipped, dataset.KERMANY / "test", temperature, threshold)
    (weights_dir / META_FILE).write_text(json.dumps(meta, indent=2))
    return meta
