"""How well fewer deletion/insertion steps agree with more, on the classifier's validation split.

The limits probe (core.explain.limits) measures faithfulness with FAITHFULNESS_STEPS; each step costs
two forward passes. This runs the reference steps once per image and scores every candidate subset
from the same passes: Spearman ρ, mean |Δ| and sign agreement of deletion, insertion and their difference.

    .venv/bin/python scripts/faithfulness_steps.py [--images 240] [--reference 0.1,0.25,0.5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.explain.gradcam import fast_gradcam, normalise
from core.explain.limits import curve_area, faithfulness_images
from core.imaging.preprocess import normalize
from core.model_service import ModelService
from core.training import dataset
from core.vocabulary import CLASS_NAMES


def curves(service: ModelService, pixels: np.ndarray, steps: tuple[float, ...]) -> list[dict]:
    """P(class the CAM explains) at the start, fully blurred, and after each deletion and insertion step."""
    rows = []
    n = len(steps)
    for start in range(0, len(pixels), 16):
        chunk = pixels[start : start + 16]
        out = service.forward(normalize(torch.from_numpy(chunk)[:, None]))
        labels = [service.label_for(float(p)) for p in out.probability]
        cams = fast_gradcam(out.features, service.model.fc.weight, torch.tensor([CLASS_NAMES.index(x) for x in labels]))
        for i, label in enumerate(labels):
            images = faithfulness_images(chunk[i], normalise(cams[i].numpy()), steps)
            p = service.forward(normalize(torch.from_numpy(np.stack(images))[:, None])).probability.astype(float)
            target = p if label == "PNEUMONIA" else 1.0 - p
            first = float(out.probability[i]) if label == "PNEUMONIA" else 1.0 - float(out.probability[i])
            rows.append(
                {"start": first, "blurred": target[0], "deletion": target[1 : 1 + n], "insertion": target[1 + n :]}
            )
    return rows


def scores(rows: list[dict], steps: tuple[float, ...], chosen: tuple[int, ...]) -> np.ndarray:
    sub = tuple(steps[j] for j in chosen)
    out = []
    for r in rows:
        deletion = curve_area(r["start"], [r["deletion"][j] for j in chosen], r["blurred"], sub)
        insertion = curve_area(r["blurred"], [r["insertion"][j] for j in chosen], r["start"], sub)
        out.append((deletion, insertion, insertion - deletion))
    return np.array(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--reference", default="0.1,0.25,0.5")
    args = parser.parse_args()
    steps = tuple(float(v) for v in args.reference.split(","))
    service = ModelService()
    training = service.info.meta.get("training", {})
    samples = dataset.list_labelled(dataset.KERMANY / "train")
    _, val = dataset.patient_split(samples, training.get("val_fraction", 0.12), training.get("seed", 0))
    val = val[:: max(len(val) // args.images, 1)][: args.images]
    rows = curves(service, dataset.load_pixels(val, cache=False), steps)
    everything = tuple(range(len(steps)))
    reference = scores(rows, steps, everything)
    report: dict = {"images": len(rows), "reference_steps": list(steps), "candidates": {}}
    for size in range(1, len(steps)):
        for chosen in itertools.combinations(everything, size):
            candidate = scores(rows, steps, chosen)
            report["candidates"][",".join(str(steps[j]) for j in chosen)] = {
                name: {
                    "spearman": round(float(spearmanr(reference[:, k], candidate[:, k]).statistic), 4),
                    "mean_abs_diff": round(float(np.abs(reference[:, k] - candidate[:, k]).mean()), 4),
                    "sign_agreement": round(float(np.mean(np.sign(reference[:, k]) == np.sign(candidate[:, k]))), 4),
                }
                for k, name in enumerate(("deletion_auc", "insertion_auc", "score"))
            }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
