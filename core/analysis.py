"""The analysis pipeline: bytes → validated image → prediction + Grad-CAM → overlay."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.cam import cam_summary, fast_gradcam, normalise, png_bytes, render_overlay
from core.guard import GuardVerdict, penultimate, unchecked_verdict
from core.imaging import ImageRejected, XRayImage, load_image
from core.model import CLASS_NAMES, ModelService
from core.preprocess import to_model_input
from core.uncertainty import Uncertainty, assess

if TYPE_CHECKING:
    from core.limits import LimitsProbe

DISCLAIMER = (
    "Educational tool only: it does not diagnose. The model and its heatmap can be wrong; "
    "any clinical question belongs to a qualified clinician."
)


class InputFlagged(ImageRejected):
    """The input guard judged the image not to be a frontal chest X-ray; `force=True` overrides."""

    def __init__(self, verdict: GuardVerdict):
        self.verdict = verdict
        super().__init__(f"Not analysed: {verdict.reason}. This tool only reads frontal chest X-rays.")


@dataclass
class Analysis:
    image: XRayImage
    probability: float  # calibrated P(pneumonia)
    label: str
    threshold: float
    model_version: str
    model_trained: bool
    cam: np.ndarray  # (h, w) Grad-CAM of `cam_target`, scaled to 0..1
    cam_target: str
    cam_summary: dict
    guard: GuardVerdict | None = None  # None only for the untrained placeholder
    uncertainty: Uncertainty | None = None
    limits: "LimitsProbe | None" = None  # set by core.limits.probe_analysis: a separate, slower step

    def overlay(self, opacity: float = 0.45) -> np.ndarray:
        return render_overlay(self.image.pixels, self.cam, opacity)

    def overlay_png(self, opacity: float = 0.45) -> bytes:
        return png_bytes(self.overlay(opacity))

    def to_dict(self) -> dict:
        return {
            "label": self.label if self.model_trained else None,
            "probability_pneumonia": round(self.probability, 4) if self.model_trained else None,
            "threshold": self.threshold,
            "model_version": self.model_version,
            "model_trained": self.model_trained,
            "image": {"width": self.image.width, "height": self.image.height, "format": self.image.source_format},
            "cam_target": self.cam_target,
            "cam_summary": {**self.cam_summary, **(self.limits.metrics if self.limits else {})},
            "guard": self.guard.to_dict() if self.guard else None,
            "uncertainty": self.uncertainty.to_dict() if self.uncertainty and self.model_trained else None,
            "disclaimer": DISCLAIMER,
        }


def check_input(service: ModelService, image: XRayImage, features: torch.Tensor) -> GuardVerdict | None:
    if not service.info.trained:
        return None
    if service.guard is None:
        return unchecked_verdict(image.colourfulness, service.guard_status)
    return service.guard.check(penultimate(features), image.colourfulness)


def analyze_image(service: ModelService, image: XRayImage, force: bool = False) -> Analysis:
    """Raises InputFlagged for an image the guard refuses, unless `force` (recorded in `guard`)."""
    out = service.forward(to_model_input(image.pixels))
    guard = check_input(service, image, out.features)
    if guard is not None and guard.flagged:
        if not force:
            raise InputFlagged(guard)
        guard = replace(guard, overridden=True)
    probability = float(out.probability[0])
    label = service.label_for(probability)
    target = torch.tensor([CLASS_NAMES.index(label)])
    cam = normalise(fast_gradcam(out.features, service.model.fc.weight, target)[0].numpy())
    return Analysis(
        image=image,
        probability=probability,
        label=label,
        threshold=service.info.threshold,
        model_version=service.version,
        model_trained=service.info.trained,
        cam=cam,
        cam_target=label,
        cam_summary=cam_summary(cam),
        guard=guard,
        uncertainty=assess(probability, service.info.threshold, service.info.meta.get("uncertainty"), guard),
    )


def analyze_bytes(service: ModelService, data: bytes, force: bool = False) -> Analysis:
    """Raises core.imaging.ImageRejected for input we refuse (InputFlagged if only the guard objects)."""
    return analyze_image(service, load_image(data), force=force)
