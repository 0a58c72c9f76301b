"""Every explanation method's map of one or more images, overlaid on the radiograph, as one PNG grid.

    .venv/bin/python scripts/explain_grid.py IMAGE [IMAGE ...] --out DIR [--methods NAME,...|all]

One row per image: the radiograph with its lung outline, then one tile per method (positive part of
the map in jet over the grey image; pixel-level maps are scaled to their 99th percentile so single
hot pixels do not hide the rest). Target: the predicted class. Beside the PNG, a JSON with each
method's time, summary and its agreement with Grad-CAM (correlation of positive mass on a 14×14 grid).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.analysis import analyze_bytes, explain_analysis
from core.explain.gradcam import jet
from core.explain.limits import lung_contour_overlay
from core.model_service import ModelService

TILE, LABEL = 224, 16


def display(heat: np.ndarray, family: str) -> np.ndarray:
    positive = np.maximum(heat, 0)
    top = float(
        positive.max() if family == "activation" else np.percentile(positive[positive > 0], 99) if positive.any() else 0
    )
    return np.clip(positive / top, 0, 1) if top > 0 else np.zeros_like(positive)


def pooled(heat: np.ndarray, cells: int = 14) -> np.ndarray:
    """Positive mass on a coarse grid (16 px cells at 224), where a CAM's resolution and a gradient map's meet."""
    positive = np.maximum(heat, 0)
    h, w = positive.shape
    return positive.reshape(cells, h // cells, cells, w // cells).sum(axis=(1, 3)).ravel()


def agreement(heat: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation of the two maps' pooled positive mass: 1 = the same places, 0 = unrelated."""
    a, b = pooled(heat), pooled(reference)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def tile(gray: np.ndarray, heat: np.ndarray | None, title: str) -> Image.Image:
    base = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    if heat is not None:
        base = base * 0.5 + jet(heat).astype(np.float32) * 0.5
    canvas = Image.new("RGB", (TILE, TILE + LABEL), "black")
    canvas.paste(Image.fromarray(base.astype(np.uint8)), (0, LABEL))
    ImageDraw.Draw(canvas).text((3, 2), title, fill="white")
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("images", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--methods", default="all")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    service = ModelService()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        analysis = analyze_bytes(service, path.read_bytes(), force=True, with_limits=True)
        gray = analysis.model_input
        explained = explain_analysis(service, analysis, args.methods)
        lungs = analysis.limits.lung_mask if analysis.limits else None
        first = Image.fromarray(lung_contour_overlay(gray, lungs)) if lungs is not None else Image.fromarray(gray)
        tiles = [tile(np.asarray(first.convert("L")), None, f"{analysis.label} {analysis.probability:.3f}")]
        tiles[0].paste(first.convert("RGB"), (0, LABEL))
        record = {}
        for name, item in explained.items():
            tiles.append(tile(gray, display(item.result.map, item.family), f"{name} {item.result.ms:.0f} ms"))
            record[name] = {"ms": item.result.ms, **item.summary}
            if "gradcam" in explained:
                record[name]["agreement_with_gradcam"] = agreement(item.result.map, explained["gradcam"].result.map)
        columns = 5
        rows = -(-len(tiles) // columns)
        grid = Image.new("RGB", (columns * TILE, rows * (TILE + LABEL)), "black")
        for i, t in enumerate(tiles):
            grid.paste(t, ((i % columns) * TILE, (i // columns) * (TILE + LABEL)))
        stem = f"explain_grid_{analysis.label.lower()}_{path.stem}"
        grid.save(args.out / f"{stem}.png")
        (args.out / f"{stem}.json").write_text(
            json.dumps({"file": str(path), "target": analysis.label, "methods": record}, indent=1)
        )
        print(args.out / f"{stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
