"""The analysis pipeline: bytes → validated image → prediction + Grad-CAM + input check → limits probe.

Analyze, the library import and both command lines call it; nothing else runs the model on an image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.explain.gradcam import cam_summary, fast_gradcam, normalise, render_overlay
from core.formatting import json_probability, percent
from core.i18n import N_
from core.imaging.decode import ImageRejected, XRayImage, load_image
from core.imaging.preprocess import INPUT_SIZE, normalize, resize_gray, to_model_input
from core.model_service import ModelService
from core.reliability.frontal_check import check_frontal
from core.reliability.input_check import GuardVerdict, penultimate, unchecked_verdict
from core.reliability.uncertainty import Uncertainty, assess
from core.vocabulary import CLASS_NAMES

if TYPE_CHECKING:
    from core.explain.limits import LimitsProbe
    from core.explain.methods import MethodResult

DISCLAIMER = N_(  # in the catalogue: pages show it in the session's language
    "Educational tool only: it does not diagnose. The model and its heatmap can be wrong; "
    "any clinical question belongs to a qualified clinician."
)


class InputFlagged(ImageRejected):
    """Stage 1 of the input check judged the image not to be a frontal chest X-ray; `force=True` overrides."""

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
    limits: LimitsProbe | None = None  # with_limits=True adds the probe: a separate, slower step
    lung_probability: np.ndarray | None = None  # (224, 224) U-Net map from the input check, reused by the probe
    model_input: np.ndarray | None = None  # (224, 224) uint8: the image on the model's grid, reused by the probe

    def overlay(self, opacity: float = 0.45) -> np.ndarray:
        return render_overlay(self.image.pixels, self.cam, opacity)

    def to_dict(self) -> dict:
        return {
            "label": self.label if self.model_trained else None,
            "probability_pneumonia": json_probability(self.probability) if self.model_trained else None,
            "probability_pneumonia_text": percent(self.probability) if self.model_trained else None,
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


def check_input(
    service: ModelService, grays224: np.ndarray, features: torch.Tensor, colourfulness: list[float]
) -> tuple[list[GuardVerdict | None], np.ndarray | None]:
    """Both stages of the input check for a batch of (N, 224, 224) uint8 images and their layer4 maps.

    Returns the verdicts and the lung U-Net's probability maps (None without a segmenter or a
    guard), which the limits probe reuses.
    """
    if not service.info.trained:
        return [None] * len(grays224), None
    if service.guard is None:
        return [unchecked_verdict(c, service.guard_status) for c in colourfulness], None
    feats = penultimate(features)
    if service.segmenter is None:
        return [service.guard.check(feats[i : i + 1], c) for i, c in enumerate(colourfulness)], None
    lung_prob = service.segmenter.probabilities(grays224)
    return [
        service.guard.check(feats[i : i + 1], c, check_frontal(lung_prob[i], c)) for i, c in enumerate(colourfulness)
    ], lung_prob


def analyze_batch(
    service: ModelService, images: list[XRayImage], overridden: bool = False, with_limits: bool = False
) -> list[Analysis]:
    """Prediction, Grad-CAM, input check and uncertainty for many images in one forward pass.

    Nothing is refused here: a verdict that flags an image is recorded in `guard` (marked
    `overridden` when the caller analyses it anyway). `with_limits` adds the model-limits probe.
    """
    if not images:
        return []
    grays224 = np.stack([resize_gray(image.pixels, INPUT_SIZE) for image in images])  # once, for every step
    out = service.forward(normalize(torch.from_numpy(grays224)[:, None]))
    verdicts, lung_prob = check_input(service, grays224, out.features, [image.colourfulness for image in images])
    labels = [service.label_for(float(p)) for p in out.probability]
    targets = torch.tensor([CLASS_NAMES.index(label) for label in labels])
    cams = fast_gradcam(out.features, service.model.fc.weight, targets)
    analyses = []
    for i, image in enumerate(images):
        guard = verdicts[i]
        if guard is not None and guard.flagged and overridden:
            guard = replace(guard, overridden=True)
        probability = float(out.probability[i])
        cam = normalise(cams[i].numpy())
        analysis = Analysis(
            image=image,
            probability=probability,
            label=labels[i],
            threshold=service.info.threshold,
            model_version=service.version,
            model_trained=service.info.trained,
            cam=cam,
            cam_target=labels[i],
            cam_summary=cam_summary(cam),
            guard=guard,
            uncertainty=assess(probability, service.info.threshold, service.info.meta.get("uncertainty"), guard),
            lung_probability=None if lung_prob is None else lung_prob[i],
            model_input=grays224[i],
        )
        analyses.append(analysis)
    return with_probes(service, analyses) if with_limits else analyses


def with_probes(service: ModelService, analyses: list[Analysis]) -> list[Analysis]:
    """The analyses with their model-limits probes, all in shared forward passes (unchanged without a
    trained model or a lung segmenter)."""
    from core.explain.limits import probe_analyses

    return [replace(a, limits=probe) for a, probe in zip(analyses, probe_analyses(service, analyses))]


def with_probe(service: ModelService, analysis: Analysis) -> Analysis:
    return with_probes(service, [analysis])[0]


def analyze_image(service: ModelService, image: XRayImage, force: bool = False, with_limits: bool = False) -> Analysis:
    """Raises InputFlagged for an image the input check refuses, unless `force` (recorded in `guard`)."""
    analysis = analyze_batch(service, [image], overridden=force)[0]
    if analysis.guard is not None and analysis.guard.flagged and not analysis.guard.overridden:
        raise InputFlagged(analysis.guard)
    return with_probe(service, analysis) if with_limits else analysis


def analyze_bytes(service: ModelService, data: bytes, force: bool = False, with_limits: bool = False) -> Analysis:
    """Raises core.imaging.ImageRejected for input we refuse (InputFlagged if only the input check objects)."""
    return analyze_image(service, load_image(data), force=force, with_limits=with_limits)


def heatmap_faithfulness(service: ModelService, analysis: Analysis) -> dict:
    """Deletion and insertion of the analysis's Grad-CAM on the target log-odds, beside a random map of the
    same smoothness: informative even where the probability is saturated. Forward passes only, so they run
    on the prediction runtime when it is active (63 of them: a few seconds on 2 cores)."""
    from core.explain.gradcam import upsample
    from core.explain.trust import gradcam_deletion_insertion

    gray224 = analysis.model_input if analysis.model_input is not None else resize_gray(analysis.image.pixels)
    cam224 = upsample(np.asarray(analysis.cam, dtype=np.float32), INPUT_SIZE, INPUT_SIZE)
    target = CLASS_NAMES.index(analysis.cam_target)
    return gradcam_deletion_insertion(service.logits_model, to_model_input(gray224), target, cam224)


@dataclass
class ExplainedMethod:
    """One Explanation Lab map of an analysed image, with its summary against lungs, border and markers."""

    name: str
    family: str
    result: MethodResult
    summary: dict  # core.explain.methods.summarise: peak (row, col), shares (None without lung mask)

    def to_dict(self) -> dict:
        r = self.result
        return {"family": self.family, "signed": r.signed, "params": r.params, "ms": r.ms, **self.summary}


def explain_analysis(
    service: ModelService,
    analysis: Analysis,
    methods="all",
    target: str | None = None,
    params: dict | None = None,
    progress=None,
    cancel=None,
) -> dict[str, ExplainedMethod]:
    """Explanation Lab maps of a finished analysis (its model-grid image), for `target` (default: its label).

    Lung and marker shares use the analysis's limits probe (analyze with `with_limits=True`); without
    it only border and marker shares can be given. Progress, cancel and params: core.explain.methods.explain.
    """
    from core.explain.methods import METHODS, explain, summarise

    gray224 = analysis.model_input if analysis.model_input is not None else resize_gray(analysis.image.pixels)
    target_index = CLASS_NAMES.index(target or analysis.label)
    results = explain(service.model, to_model_input(gray224), target_index, methods, params, progress, cancel)
    lung_mask = analysis.limits.lung_mask if analysis.limits else None
    boxes = analysis.limits.metrics["markers"] if analysis.limits else []
    return {
        name: ExplainedMethod(name, METHODS[name].family, r, summarise(r.map, r.signed, lung_mask, boxes))
        for name, r in results.items()
    }
