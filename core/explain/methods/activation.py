"""Activation-based maps on layer4 (pytorch-grad-cam 1.5.7), and our forward-only Grad-CAM.

The libraries hook layer4, so they run on the private "hookable" copy. Their input carries
requires_grad: the copy's parameters take no gradient, and without it layer4's output would
have no gradient for Grad-CAM++, LayerCAM or HiResCAM to read.
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import EigenCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from core.explain.gradcam import fast_gradcam
from core.explain.methods.context import MethodRun
from core.explain.methods.reduce import library_cam, scale_cam
from core.models.classifier import head_logits, trunk_features


def gradcam(run: MethodRun) -> np.ndarray:
    """One forward pass: layer4 features and the fc weights give Grad-CAM exactly (core.explain.gradcam)."""
    with torch.no_grad():
        run.on_batch(1)
        features = trunk_features(run.model, run.x)
        raw = fast_gradcam(features, run.model.fc.weight, torch.tensor([run.target]), relu=False)[0]
    return scale_cam(raw, run.grid)


def gradcam_features(run: MethodRun, features: torch.Tensor) -> np.ndarray:
    """Grad-CAM from layer4 features another method's forward pass already computed (gradient_set)."""
    raw = fast_gradcam(features, run.model.fc.weight, torch.tensor([run.target]), relu=False)[0]
    return scale_cam(raw, run.grid)


def _library_cam(run: MethodRun, cam_class, **attributes) -> np.ndarray:
    with run.private("hookable") as twin:
        with cam_class(model=run.watched(twin), target_layers=[twin.layer4]) as cam:
            for name, value in attributes.items():
                setattr(cam, name, value)
            cams = cam(
                input_tensor=run.x.detach().clone().requires_grad_(True),
                targets=[ClassifierOutputTarget(run.target)],
            )
    return library_cam(cams)


def gradcam_pp(run: MethodRun) -> np.ndarray:
    return _library_cam(run, GradCAMPlusPlus)


def scorecam(run: MethodRun) -> np.ndarray:
    # ScoreCAM reads its batch size from an attribute; it runs one masked forward pass per channel.
    return _library_cam(run, ScoreCAM, batch_size=int(run.params["batch_size"]))


def eigencam(run: MethodRun) -> np.ndarray:
    return _library_cam(run, EigenCAM)


def layercam(run: MethodRun) -> np.ndarray:
    return _library_cam(run, LayerCAM)


def hirescam(run: MethodRun) -> np.ndarray:
    return _library_cam(run, HiResCAM)


def logits_and_features(run: MethodRun, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared model's forward in its two halves: the same operations as model(batch), layer4 kept."""
    run.on_batch(int(batch.shape[0]))
    features = trunk_features(run.model, batch)
    return head_logits(run.model, features), features
