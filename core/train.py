"""Train the ResNet34 from scratch on CPU: progressive resizing, one-cycle LR, resumable.

Radiograph-aware augmentation: no horizontal flip (it would move the heart to the right
and mirror the burned-in "R" marker, teaching the model that laterality is noise);
small rotations/zoom/shift, exposure (gamma, contrast, brightness), noise and occlusion.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import dataset
from core.checkpoint import resume_from, save_checkpoint
from core.metrics import classification_report
from core.model import build_resnet34, head_logits, trunk_features
from core.preprocess import PIXEL_MEAN, PIXEL_STD, normalize

DEFAULT_RUN_DIR = dataset.CACHE_DIR / "runs" / "classifier"


@dataclass
class TrainConfig:
    schedule: str = "128x8,160x8,224x4"  # resolution x epochs, in order
    batch_size: int = 32
    max_lr: float = 2e-3
    weight_decay: float = 0.05
    val_fraction: float = 0.12
    seed: int = 0

    def resolutions(self) -> list[int]:
        out = []
        for part in self.schedule.split(","):
            res, epochs = part.lower().split("x")
            out += [int(res)] * int(epochs)
        return out


def augment(batch_u8: torch.Tensor, res: int, gen: torch.Generator) -> torch.Tensor:
    """(B, 1, 224, 224) uint8 → augmented, normalised (B, 3, res, res)."""
    b = batch_u8.shape[0]
    u = lambda lo, hi: torch.empty(b, 1, 1, 1).uniform_(lo, hi, generator=gen)  # noqa: E731
    x = batch_u8.float().div(255.0)
    x = F.interpolate(x, size=(res, res), mode="bilinear", antialias=True, align_corners=False)
    # Exposure: gamma, contrast about mid-grey, brightness.
    x = x.clamp(0, 1).pow(torch.exp(u(-0.3, 0.3)))
    x = (x - 0.5) * u(0.75, 1.3) + 0.5 + u(-0.08, 0.08)
    # Geometry: rotation ±8°, zoom 0.9–1.15, aspect ±8 %, shift ±6 %; never a flip.
    angle = torch.empty(b).uniform_(-8, 8, generator=gen) * math.pi / 180
    zoom = torch.empty(b).uniform_(0.87, 1.11, generator=gen)
    aspect = torch.empty(b).uniform_(0.92, 1.08, generator=gen)
    shift = torch.empty(b, 2).uniform_(-0.06, 0.06, generator=gen)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos * zoom * aspect, -sin * zoom, shift[:, 0]], 1),
            torch.stack([sin * zoom * aspect, cos * zoom, shift[:, 1]], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, [b, 1, res, res], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    x = x + torch.randn(x.shape, generator=gen) * u(0.0, 0.03)
    # Occlusion: one grey box in 30 % of images, so no single small region decides.
    for i in torch.nonzero(torch.rand(b, generator=gen) < 0.3).flatten().tolist():
        h, w = (torch.randint(res // 10, res // 4, (2,), generator=gen)).tolist()
        y0, x0 = torch.randint(0, res - h, (1,), generator=gen).item(), torch.randint(0, res - w, (1,), generator=gen).item()
        x[i, :, y0 : y0 + h, x0 : x0 + w] = torch.rand(1, generator=gen).item()
    x = x.clamp(0, 1).sub_(PIXEL_MEAN).div_(PIXEL_STD)
    return x.expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def predict_logits(model, pixels: np.ndarray, batch_size: int = 64, res: int | None = None) -> np.ndarray:
    """Logits for (N, 224, 224) uint8 pixels; `res` evaluates at a training resolution instead."""
    model.eval()
    out = []
    for start in range(0, len(pixels), batch_size):
        x = torch.from_numpy(pixels[start : start + batch_size])[:, None]
        if res is not None and res != x.shape[-1]:
            x = F.interpolate(x.float(), size=(res, res), mode="bilinear", antialias=True, align_corners=False)
        x = normalize(x)
        out.append(head_logits(model, trunk_features(model, x)))
    return torch.cat(out).numpy()


def probs_from_logits(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return torch.softmax(torch.from_numpy(logits) / temperature, 1)[:, 1].numpy()


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature scaling (Guo et al. 2017): one scalar minimising validation NLL."""
    lg, y = torch.from_numpy(logits).double(), torch.from_numpy(labels).long()
    log_t = torch.zeros(1, dtype=torch.double, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(lg / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.exp().item())


def youden_threshold(labels: np.ndarray, prob: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity on validation data."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(labels, prob)
    best = int(np.argmax(tpr - fpr))
    return float(min(max(thr[best], 1e-4), 1 - 1e-4))


def train(config: TrainConfig, run_dir: Path = DEFAULT_RUN_DIR, resume: bool = False) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    samples = dataset.list_labelled(dataset.KERMANY / "train")
    train_s, val_s = dataset.patient_split(samples, config.val_fraction, config.seed)
    train_px, val_px = dataset.load_pixels(train_s), dataset.load_pixels(val_s)
    train_y = torch.tensor([s.label for s in train_s])
    val_y = np.array([s.label for s in val_s])
    resolutions = config.resolutions()
    steps_per_epoch = len(train_s) // config.batch_size

    model = build_resnet34().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=config.max_lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.max_lr, total_steps=steps_per_epoch * len(resolutions), pct_start=0.25
    )
    counts = torch.bincount(train_y, minlength=2).float()
    class_weight = counts.sum() / (2 * counts)  # inverse frequency: NORMAL is the minority
    history, start_epoch, elapsed = [], 0, 0.0
    if resume:
        history, start_epoch, elapsed = resume_from(run_dir, asdict(config), model, opt, sched)
        if start_epoch:
            print(f"resumed after epoch {start_epoch} of {len(resolutions)} ({elapsed / 60:.0f} min so far)")
    (run_dir / "split.json").write_text(
        json.dumps({"train": [str(s.path) for s in train_s], "val": [str(s.path) for s in val_s]})
    )

    for epoch in range(start_epoch, len(resolutions)):
        res = resolutions[epoch]
        gen = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        order = torch.randperm(len(train_s), generator=gen)
        model.train()
        t0 = time.time()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{len(resolutions)} @{res}px", unit="step")
        running = None
        for step in bar:
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            x = augment(torch.from_numpy(train_px[idx.numpy()])[:, None], res, gen)
            loss = F.cross_entropy(model(x), train_y[idx], weight=class_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
            bar.set_postfix(loss=f"{running:.3f}", lr=f"{sched.get_last_lr()[0]:.1e}")
        # Validate at the epoch's own resolution: BatchNorm statistics learnt at 128 px do not
        # transfer to 224 px until the last (224 px) epochs re-estimate them.
        logits = predict_logits(model, val_px, res=res)
        val = classification_report(val_y, probs_from_logits(logits))
        val["loss"] = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(val_y)).item())
        elapsed += time.time() - t0
        history.append({"epoch": epoch + 1, "res": res, "train_loss": running, **{k: val[k] for k in ("loss", "accuracy", "auc", "sensitivity", "specificity")}})
        print(
            f"epoch {epoch + 1}: train loss {running:.3f} | val loss {val['loss']:.3f} acc {val['accuracy']:.3f} "
            f"auc {val['auc']:.4f} sens {val['sensitivity']:.3f} spec {val['specificity']:.3f} | {elapsed / 60:.1f} min",
            flush=True,
        )
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                 "epoch": epoch, "history": history, "elapsed": elapsed, "config": asdict(config)}
        save_checkpoint(run_dir, state)
    return run_dir / "last.pt"
