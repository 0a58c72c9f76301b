"""`python -m core export-runtime`: the ONNX Runtime export of the prediction path, checked against torch.

The files and how they are loaded: core.models.runtime. Here the export is made from a torch service,
compared with torch on real X-rays (logits, layer4 map, Grad-CAM, lung probabilities) and installed only
within the limits, with runtime.json tying it to the weights' SHA-256.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import numpy as np
import torch

from core.explain.gradcam import fast_gradcam, normalise
from core.imaging.preprocess import normalize
from core.models import runtime as rt
from core.models.classifier import head_logits, trunk_features
from core.models.lungs import LUNG_WEIGHTS, SEG_SIZE, seg_input
from core.models.weights import WEIGHTS_FILE, sha256_file


def export_runtime(service, check_grays: np.ndarray) -> dict:
    """Export the service's torch models next to its weights, check them on `check_grays`, write runtime.json.

    `service` is a core.model_service.ModelService running on torch; `check_grays` (N, 224, 224) uint8
    X-rays. Raises RuntimeError (and installs nothing) if the export is further from torch than the limits.
    """
    if not service.info.trained:
        raise RuntimeError("no trained classifier in this folder: nothing to export")
    folder = service.weights_dir
    meta_path = folder / rt.RUNTIME_META
    meta_path.unlink(missing_ok=True)  # the old export stops counting before the new files are written
    rt.export_onnx(
        rt.ClassifierGraph(service.model),
        torch.zeros(1, 3, 224, 224),
        folder / rt.CLASSIFIER_ONNX,
        ["logits", "features"],
    )
    segmenter = service.segmenter
    if segmenter is not None:
        rt.export_onnx(segmenter.model, torch.zeros(1, 1, SEG_SIZE, SEG_SIZE), folder / rt.LUNGS_ONNX, ["logits"])
    candidate = {"format": rt.RUNTIME_FORMAT, "lungs": segmenter is not None}
    runtime = rt.OnnxRuntime(folder, candidate)

    x = normalize(torch.from_numpy(np.ascontiguousarray(check_grays))[:, None])
    with torch.inference_mode():
        ref_features = trunk_features(service.model, x)
        ref_logits = head_logits(service.model, ref_features)
    logits, features = runtime.classify(x.numpy())
    targets = torch.from_numpy(ref_logits.argmax(1).numpy())
    weight = service.model.fc.weight
    ref_cams = fast_gradcam(ref_features, weight, targets).numpy()
    cams = fast_gradcam(torch.from_numpy(features), weight, targets).numpy()
    checked = {
        "images": len(check_grays),
        "max_abs_logit_diff": float(np.abs(logits - ref_logits.numpy()).max()),
        "max_abs_feature_diff": float(np.abs(features - ref_features.numpy()).max()),
        "max_abs_cam_diff": float(max(np.abs(normalise(a) - normalise(b)).max() for a, b in zip(cams, ref_cams))),
    }
    if segmenter is not None:
        seg = seg_input(check_grays).contiguous()
        with torch.inference_mode():
            ref_lungs = torch.sigmoid(segmenter.model(seg)).numpy()
        lungs = 1 / (1 + np.exp(-runtime.lung_logits(seg.numpy())))
        checked["max_abs_lung_probability_diff"] = float(np.abs(lungs - ref_lungs).max())
    limits = {
        "max_abs_logit_diff": rt.MAX_LOGIT_DIFF,
        "max_abs_cam_diff": rt.MAX_CAM_DIFF,
        "max_abs_lung_probability_diff": rt.MAX_LUNG_DIFF,
    }
    too_far = [k for k, limit in limits.items() if k in checked and not checked[k] <= limit]
    if too_far:
        raise RuntimeError(f"the export differs from torch beyond the limits: { {k: checked[k] for k in too_far} }")
    meta = {
        **candidate,
        "engine": "onnxruntime",
        "onnxruntime": runtime.version,
        "torch": torch.__version__,
        "opset": rt.OPSET,
        "classifier_sha256": sha256_file(folder / WEIGHTS_FILE),
        "classifier_onnx_sha256": sha256_file(folder / rt.CLASSIFIER_ONNX),
        "lungs_sha256": sha256_file(folder / LUNG_WEIGHTS) if segmenter is not None else None,
        "lungs_onnx_sha256": sha256_file(folder / rt.LUNGS_ONNX) if segmenter is not None else None,
        "checked_against_torch": checked,
        "limits": limits,
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, meta_path)
    return meta
