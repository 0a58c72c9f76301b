"""Train, evaluate and export the lung-field U-Net on lungs224 (resumable, CPU).

Masks: V7 Labs, COVID-19 X-ray dataset, 2020 (CC BY 4.0), aligned pixel for pixel with
kermany224 (see ../shared/data/lungs224/README.md). Validation is carved from train/ by
patient; test/ is only ever used for the reported Dice.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from core.models.lungs import LUNG_META, LUNG_WEIGHTS, SEG_SIZE, LungSegmenter, LungUNet, dice
from core.models.weights import sha256_file
from core.training import dataset
from core.training.checkpoint import resume_from, save_checkpoint
from core.vocabulary import CLASS_NAMES

LUNGS = dataset.SHARED_DATA / "lungs224"
RUN_DIR = dataset.CACHE_DIR / "runs" / "lungs"
CITATION = "V7 Labs, COVID-19 X-ray dataset, 2020 (CC BY 4.0); masks aligned with kermany224"


@dataclass
class LungTrainConfig:
    epochs: int = 14
    batch_size: int = 16
    base_channels: int = 8
    max_lr: float = 3e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.12
    seed: int = 0


def mask_samples(split: str) -> list[tuple[dataset.Sample, Path]]:
    """(kermany image sample, mask path) pairs of lungs224/<split>."""
    pairs = []
    for label, name in enumerate(CLASS_NAMES):
        for mask in sorted((LUNGS / split / name).glob("*.png")):
            image = dataset.KERMANY / split / name / f"{mask.stem}.jpeg"
            if image.is_file():
                pairs.append((dataset.Sample(image, label), mask))
    return pairs


def load_masks(paths: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("L")) >= 128 for p in paths])


def augment_pair(images_u8: np.ndarray, masks: np.ndarray, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random affine for image and mask, exposure changes for the image; output at 128 px."""
    b = len(images_u8)
    x = torch.from_numpy(images_u8)[:, None].float().div(255.0)
    y = torch.from_numpy(masks)[:, None].float()
    u = lambda lo, hi: torch.empty(b, 1, 1, 1).uniform_(lo, hi, generator=gen)  # noqa: E731
    x = x.clamp(0, 1).pow(torch.exp(u(-0.35, 0.35)))
    x = (x - 0.5) * u(0.7, 1.3) + 0.5 + u(-0.1, 0.1)
    angle = torch.empty(b).uniform_(-10, 10, generator=gen) * math.pi / 180
    zoom = torch.empty(b).uniform_(0.85, 1.15, generator=gen)
    shift = torch.empty(b, 2).uniform_(-0.08, 0.08, generator=gen)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos * zoom, -sin * zoom, shift[:, 0]], 1), torch.stack([sin * zoom, cos * zoom, shift[:, 1]], 1)],
        1,
    )
    grid = F.affine_grid(theta, [b, 1, SEG_SIZE, SEG_SIZE], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    y = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    x = x + torch.randn(x.shape, generator=gen) * u(0.0, 0.03)
    from core.imaging.preprocess import PIXEL_MEAN, PIXEL_STD

    return x.clamp(0, 1).sub_(PIXEL_MEAN).div_(PIXEL_STD), y


def seg_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE + soft Dice: BCE for per-pixel calibration, Dice for the overlap we are judged on."""
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum((1, 2, 3))
    soft_dice = (2 * inter + 1) / (prob.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)
    return F.binary_cross_entropy_with_logits(logits, target) + (1 - soft_dice).mean()


def mean_dice(segmenter: LungSegmenter, images: np.ndarray, masks: np.ndarray) -> dict:
    pred = segmenter.segment_batch(images)
    scores = np.array([dice(p, t) for p, t in zip(pred, masks)])
    return {
        "n": int(len(scores)),
        "mean_dice": round(float(scores.mean()), 4),
        "median_dice": round(float(np.median(scores)), 4),
        "min_dice": round(float(scores.min()), 4),
        "share_below_0_9": round(float((scores < 0.9).mean()), 4),
    }


def train_lungs(config: LungTrainConfig, run_dir: Path = RUN_DIR, resume: bool = False) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    pairs = mask_samples("train")
    by_path = {s.path: m for s, m in pairs}
    train_s, val_s = dataset.patient_split([s for s, _ in pairs], config.val_fraction, config.seed)
    train_x, val_x = dataset.load_pixels(train_s), dataset.load_pixels(val_s)
    train_y = load_masks([by_path[s.path] for s in train_s])
    val_y = load_masks([by_path[s.path] for s in val_s])
    steps = len(train_s) // config.batch_size

    model = LungUNet(config.base_channels)
    opt = torch.optim.AdamW(model.parameters(), lr=config.max_lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.max_lr, total_steps=steps * config.epochs, pct_start=0.2
    )
    history: list[dict] = []
    start, elapsed = 0, 0.0
    if resume:
        history, start, elapsed = resume_from(run_dir, asdict(config), model, opt, sched)
        if start:
            print(f"resumed after epoch {start} of {config.epochs} ({elapsed / 60:.0f} min so far)")
    (run_dir / "split.json").write_text(
        json.dumps({"train": [str(s.path) for s in train_s], "val": [str(s.path) for s in val_s]})
    )
    for epoch in range(start, config.epochs):
        gen = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        order = torch.randperm(len(train_s), generator=gen).numpy()
        model.train()
        t0, running = time.time(), None
        bar = tqdm(range(steps), desc=f"lungs epoch {epoch + 1}/{config.epochs}", unit="step")
        for step in bar:
            idx = np.sort(order[step * config.batch_size : (step + 1) * config.batch_size])
            x, y = augment_pair(train_x[idx], train_y[idx], gen)
            loss = seg_loss(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
            bar.set_postfix(loss=f"{running:.3f}")
        val = mean_dice(LungSegmenter(model, {}, "training"), val_x, val_y)
        model.train()
        elapsed += time.time() - t0
        history.append({"epoch": epoch + 1, "train_loss": running, "val_dice": val["mean_dice"]})
        print(
            f"lungs epoch {epoch + 1}: loss {running:.3f} | val Dice {val['mean_dice']:.4f} | {elapsed / 60:.1f} min",
            flush=True,
        )
        save_checkpoint(run_dir, asdict(config), model, opt, sched, epoch, history, elapsed)
    return run_dir / "last.pt"


def export_lungs(run_dir: Path, out_dir: Path) -> dict:
    """Write weights/lungs.safetensors + lungs.json with validation and test Dice."""
    from safetensors.torch import save_file

    ckpt = torch.load(run_dir / "last.pt", weights_only=False)
    config = LungTrainConfig(**ckpt["config"])
    if ckpt["epoch"] + 1 < config.epochs:
        raise SystemExit(f"the run has {ckpt['epoch'] + 1} of {config.epochs} epochs; finish it with --resume first")
    model = LungUNet(config.base_channels)
    model.load_state_dict(ckpt["model"])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LUNG_WEIGHTS
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    segmenter = LungSegmenter(model, {}, sha256_file(path)[:12])
    split = json.loads((run_dir / "split.json").read_text())
    pairs = {str(s.path): m for s, m in mask_samples("train")}
    val_s = [dataset.Sample(Path(p), 0) for p in split["val"]]
    val = mean_dice(segmenter, dataset.load_pixels(val_s), load_masks([pairs[p] for p in split["val"]]))
    test = evaluate_folder(segmenter, "test")
    meta = {
        "architecture": "U-Net, 4 poolings",
        "base_channels": config.base_channels,
        "input_size": SEG_SIZE,
        "output_grid": 224,
        "parameters": sum(p.numel() for p in model.parameters()),
        "sha256": sha256_file(path),
        "training_data": CITATION,
        "epochs": config.epochs,
        "training_minutes": round(ckpt["elapsed"] / 60, 1),
        "validation": val,
        "test": test,
        "history": ckpt["history"],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out_dir / LUNG_META).write_text(json.dumps(meta, indent=2))
    return meta


def evaluate_folder(segmenter: LungSegmenter, split: str = "test") -> dict:
    pairs = mask_samples(split)
    images = dataset.load_pixels([s for s, _ in pairs], cache=False)
    return mean_dice(segmenter, images, load_masks([m for _, m in pairs]))


def write_masks(segmenter: LungSegmenter, paths: list[Path], out_dir: Path) -> list[tuple[str, str]]:
    """One 0/255 PNG per image, at the image's own size and with its file stem; returns refusals."""
    from core.imaging.decode import ImageRejected, load_image
    from core.models.lungs import mask_to_size

    out_dir.mkdir(parents=True, exist_ok=True)
    refused = []
    for path in tqdm(paths, desc="lungs", unit="img", disable=len(paths) < 5):
        try:
            image = load_image(path.read_bytes())
        except ImageRejected as exc:
            refused.append((str(path), str(exc)))
            continue
        mask = mask_to_size(segmenter.segment(image.pixels), image.height, image.width)
        Image.fromarray(mask.astype(np.uint8) * 255).save(out_dir / f"{path.stem}.png")
    return refused
