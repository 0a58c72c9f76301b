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

from core.evaluation.metrics import classification_report
from core.imaging.preprocess import PIXEL_MEAN, PIXEL_STD, normalize
from core.models.classifier import build_resnet34, head_logits, trunk_features
from core.training import dataset
from core.training.checkpoint import resume_from, save_checkpoint

DEFAULT_RUN_DIR = dataset.CACHE_DIR / "runs" / "classifier"


@dataclass
class TrainConfig:
    schedule: str = "128x8,160x8,224x4"  # resolution x epochs, in order
    batch_size: int = 32
    max_lr: float = 2e-3
    weight_decay: float = 0.05
    val_fraction: float = 0.12
    seed: int = 0
    # Fine-tuning knobs (model v2). Defaults reproduce the v1 recipe.
    init_weights: str = ""  # safetensors to start from (our own earlier from-scratch model), "" = random init
    init_sha256: str = ""  # recorded so a resume cannot silently start from other weights
    pct_start: float = 0.25  # share of the one-cycle schedule spent warming up
    label_smoothing: float = 0.0
    ema_decay: float = 0.0  # exponential moving average of weights and BatchNorm buffers; 0 = off
    augmentation: str = "v1"  # "v1" or "strong" (wider exposure/processing/geometry)

    def resolutions(self) -> list[int]:
        out = []
        for part in self.schedule.split(","):
            res, epochs = part.lower().split("x")
            out += [int(res)] * int(epochs)
        return out


@dataclass(frozen=True)
class AugmentRanges:
    gamma_log: float  # gamma = exp(U(-g, g))
    contrast: tuple[float, float]
    brightness: float
    rotation_deg: float
    zoom: tuple[float, float]
    aspect: float
    shift: float
    noise: float
    processing: float  # probability of a blur/sharpen (unsharp mask) or histogram-equalisation blend


AUGMENTATIONS = {
    "v1": AugmentRanges(0.3, (0.75, 1.3), 0.08, 8, (0.87, 1.11), 0.08, 0.06, 0.03, 0.0),
    # Films from other rooms differ in exposure, post-processing (edge enhancement, equalisation)
    # and framing; widen those, still never flip.
    "strong": AugmentRanges(0.5, (0.6, 1.5), 0.12, 10, (0.8, 1.15), 0.15, 0.08, 0.04, 0.5),
}


def _box_blur(x: torch.Tensor, radius: int) -> torch.Tensor:
    k = 2 * radius + 1
    return F.avg_pool2d(F.pad(x, (radius,) * 4, mode="replicate"), k, stride=1)


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """Per-image histogram equalisation of (B, 1, H, W) values in 0..1 (rank transform)."""
    b, _, h, w = x.shape
    flat = x.reshape(b, -1)
    ranks = flat.argsort(1).argsort(1).float() / (flat.shape[1] - 1)
    return ranks.reshape(b, 1, h, w)


def _processing(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Post-processing of another vendor: unsharp masking (edge enhancement), softening, equalisation."""
    b = x.shape[0]
    pick = torch.rand(b, generator=gen)
    amount = torch.empty(b, 1, 1, 1).uniform_(-0.8, 1.5, generator=gen)
    radius = int(torch.randint(1, 4, (1,), generator=gen).item())
    sharpened = (x + amount * (x - _box_blur(x, radius))).clamp(0, 1)
    mix = torch.empty(b, 1, 1, 1).uniform_(0.2, 0.8, generator=gen)
    equalised = (1 - mix) * x + mix * _equalize(x)
    use_sharp = (pick < p * 0.6).view(b, 1, 1, 1)
    use_eq = ((pick >= p * 0.6) & (pick < p)).view(b, 1, 1, 1)
    return torch.where(use_sharp, sharpened, torch.where(use_eq, equalised, x))


def augment(batch_u8: torch.Tensor, res: int, gen: torch.Generator, kind: str = "v1") -> torch.Tensor:
    """(B, 1, 224, 224) uint8 → augmented, normalised (B, 3, res, res)."""
    r = AUGMENTATIONS[kind]
    b = batch_u8.shape[0]
    u = lambda lo, hi: torch.empty(b, 1, 1, 1).uniform_(lo, hi, generator=gen)  # noqa: E731
    x = batch_u8.float().div(255.0)
    x = F.interpolate(x, size=(res, res), mode="bilinear", antialias=True, align_corners=False)
    if r.processing:
        x = _processing(x, r.processing, gen)
    # Exposure: gamma, contrast about mid-grey, brightness.
    x = x.clamp(0, 1).pow(torch.exp(u(-r.gamma_log, r.gamma_log)))
    x = (x - 0.5) * u(*r.contrast) + 0.5 + u(-r.brightness, r.brightness)
    # Geometry: rotation, zoom, aspect, shift; never a flip.
    angle = torch.empty(b).uniform_(-r.rotation_deg, r.rotation_deg, generator=gen) * math.pi / 180
    zoom = torch.empty(b).uniform_(*r.zoom, generator=gen)
    aspect = torch.empty(b).uniform_(1 - r.aspect, 1 + r.aspect, generator=gen)
    shift = torch.empty(b, 2).uniform_(-r.shift, r.shift, generator=gen)
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
    x = x + torch.randn(x.shape, generator=gen) * u(0.0, r.noise)
    # Occlusion: one grey box in 30 % of images, so no single small region decides.
    for i in torch.nonzero(torch.rand(b, generator=gen) < 0.3).flatten().tolist():
        h, w = (torch.randint(res // 10, res // 4, (2,), generator=gen)).tolist()
        y0, x0 = (
            torch.randint(0, res - h, (1,), generator=gen).item(),
            torch.randint(0, res - w, (1,), generator=gen).item(),
        )
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


def acquisition_stats(pixels: np.ndarray) -> np.ndarray:
    """(N, 2) per-image mean grey level and edge strength (mean |Laplacian|): exposure and processing."""
    x = pixels.astype(np.float32) / 255.0
    lap = np.abs(4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:])
    return np.stack([x.mean((1, 2)), lap.mean((1, 2))], 1)


def shifted_slice(train_px: np.ndarray, val_px: np.ndarray, share: float = 0.25) -> np.ndarray:
    """Indices of the validation images least like the training films in exposure and processing.

    A stand-in for the train→test shift that plain validation does not show: the `share` of
    validation images farthest (standardised distance) from the training images' median.
    """
    ref = acquisition_stats(train_px)
    med, spread = np.median(ref, 0), ref.std(0) + 1e-8
    dist = np.linalg.norm((acquisition_stats(val_px) - med) / spread, axis=1)
    return np.sort(np.argsort(-dist)[: max(1, int(round(share * len(val_px))))])


def _validate(model, val_px, val_y, res, shift_idx) -> dict:
    logits = predict_logits(model, val_px, res=res)
    val = classification_report(val_y, probs_from_logits(logits))
    out = {k: val[k] for k in ("accuracy", "auc", "sensitivity", "specificity")}
    out["loss"] = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(val_y)).item())
    shifted = classification_report(val_y[shift_idx], probs_from_logits(logits[shift_idx]))
    out.update({f"shift_{k}": shifted[k] for k in ("accuracy", "specificity", "sensitivity")})
    out["shift_loss"] = float(
        F.cross_entropy(torch.from_numpy(logits[shift_idx]), torch.from_numpy(val_y[shift_idx])).item()
    )
    return out


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

    model = build_resnet34()
    if config.init_weights:
        from core.models.weights import load_state_dict, sha256_file

        if config.init_sha256 and sha256_file(Path(config.init_weights)) != config.init_sha256:
            raise SystemExit(f"{config.init_weights} is not the file this run started from")
        model.load_state_dict(load_state_dict(Path(config.init_weights)))
    model = model.to(memory_format=torch.channels_last)
    ema = None
    if config.ema_decay:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    opt = torch.optim.AdamW(model.parameters(), lr=config.max_lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.max_lr, total_steps=steps_per_epoch * len(resolutions), pct_start=config.pct_start
    )
    counts = torch.bincount(train_y, minlength=2).float()
    class_weight = counts.sum() / (2 * counts)  # inverse frequency: NORMAL is the minority
    shift_idx = shifted_slice(train_px, val_px)
    history: list[dict] = []
    start_epoch, elapsed = 0, 0.0
    if resume:
        history, start_epoch, elapsed = resume_from(run_dir, asdict(config), model, opt, sched, ema)
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
            x = augment(torch.from_numpy(train_px[idx.numpy()])[:, None], res, gen, config.augmentation)
            loss = F.cross_entropy(model(x), train_y[idx], weight=class_weight, label_smoothing=config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
            bar.set_postfix(loss=f"{running:.3f}", lr=f"{sched.get_last_lr()[0]:.1e}")
        # Validate at the epoch's own resolution: BatchNorm statistics learnt at 128 px do not
        # transfer to 224 px until the last (224 px) epochs re-estimate them.
        val = _validate(model, val_px, val_y, res, shift_idx)
        entry = {"epoch": epoch + 1, "res": res, "train_loss": running, **val}
        if ema is not None:
            entry["ema"] = _validate(ema.module, val_px, val_y, res, shift_idx)
        elapsed += time.time() - t0
        history.append(entry)
        for name, v in [("", val)] + ([("ema ", entry["ema"])] if ema is not None else []):
            print(
                f"epoch {epoch + 1} {name}: train loss {running:.3f} | val loss {v['loss']:.3f} acc {v['accuracy']:.3f} "
                f"auc {v['auc']:.4f} sens {v['sensitivity']:.3f} spec {v['specificity']:.3f} | shifted slice "
                f"loss {v['shift_loss']:.3f} spec {v['shift_specificity']:.3f} | {elapsed / 60:.1f} min",
                flush=True,
            )
        save_checkpoint(run_dir, asdict(config), model, opt, sched, epoch, history, elapsed, ema)
        # Every epoch's weights stay available, so the epoch can be chosen on validation afterwards.
        snapshot = (ema.module if ema is not None else model).state_dict()
        torch.save(
            {"model": snapshot, "epoch": epoch, "history": history, "elapsed": elapsed, "config": asdict(config)},
            run_dir / f"epoch-{epoch + 1:02d}.pt",
        )
    return run_dir / "last.pt"
