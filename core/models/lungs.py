"""Lung-field segmentation: a small U-Net that runs at 128 px on CPU in a few ms.

Trained on lungs224 (V7 masks of kermany224 images, lung behind the heart included); see
core/lungs_train.py. The mask is predicted at 128 px and its logits are resized to the
224-px model-input grid, where every explanation metric is measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.imaging.preprocess import INPUT_SIZE, PIXEL_MEAN, PIXEL_STD, resize_gray
from core.models.weights import default_weights_dir, load_state_dict, sha256_file

if TYPE_CHECKING:
    from core.models.runtime import OnnxRuntime

SEG_SIZE = 128
LUNG_WEIGHTS = "lungs.safetensors"
LUNG_META = "lungs.json"


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class LungUNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) with 4 poolings; `base` channels at full resolution."""

    def __init__(self, base: int = 16):
        super().__init__()
        widths = [base, base * 2, base * 4, base * 8, base * 16]
        self.down = nn.ModuleList([_block(1, widths[0])] + [_block(a, b) for a, b in zip(widths, widths[1:])])
        self.up = nn.ModuleList([nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(widths, widths[1:])])
        self.merge = nn.ModuleList([_block(a * 2, a) for a in widths[:-1]])
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(reversed(self.up), reversed(self.merge)):
            x = merge(torch.cat([skips.pop(), up(x)], 1))
        return self.head(x)


def fused_for_inference(model: LungUNet) -> LungUNet:
    """Conv+BatchNorm+ReLU folded into one conv, in channels-last memory: the same map in half the time.

    Only for inference: folding freezes the BatchNorm statistics and drops their gradients.
    """
    from torch.ao.quantization import fuse_modules

    triples = [
        [f"{name}.{i}", f"{name}.{i + 1}", f"{name}.{i + 2}"]
        for name, module in model.named_modules()
        if isinstance(module, nn.Sequential) and len(module) == 6
        for i in (0, 3)
    ]
    return fuse_modules(model.eval(), triples).to(memory_format=torch.channels_last)


def seg_input(grays: np.ndarray) -> torch.Tensor:
    """(N, H, W) uint8 → (N, 1, 128, 128) normalised float (same pixel scaling as the classifier)."""
    # The element-wise steps in NumPy (one thread, the same float32 results): torch's pool is slow to wake for them.
    x = torch.from_numpy(np.asarray(grays, dtype=np.uint8)[:, None].astype(np.float32) / np.float32(255.0))
    if x.shape[-1] != SEG_SIZE or x.shape[-2] != SEG_SIZE:
        x = F.interpolate(x, size=(SEG_SIZE, SEG_SIZE), mode="bilinear", antialias=True, align_corners=False)
    a = x.numpy()
    a -= np.float32(PIXEL_MEAN)
    a /= np.float32(PIXEL_STD)
    return x


def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Keep the (at most two) large components and fill holes: lungs are two solid regions."""
    mask = mask.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1][:2]
    keep = [i + 1 for i in order if areas[i] >= 0.1 * areas[order[0]]]
    mask = np.isin(labels, keep).astype(np.uint8)
    # Fill holes: flood the background from the frame; what it cannot reach is inside a lung.
    padded = np.pad(mask, 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = (flood == 0)[1:-1, 1:-1]
    return mask.astype(bool) | holes


class LungSegmenter:
    """Loaded once with the model service; None-safe callers check `available`."""

    def __init__(self, model: LungUNet, meta: dict, version: str):
        # eval() only: inference runs under torch.inference_mode, and training validates
        # through this class with a model whose parameters must keep their gradients.
        self.model = model.eval()
        self.meta = meta
        self.version = version
        self.runtime: OnnxRuntime | None = None  # set by the model service when the export is current

    @classmethod
    def load(cls, weights_dir: Path | None = None) -> LungSegmenter | None:
        folder = Path(weights_dir or default_weights_dir())
        path = folder / LUNG_WEIGHTS
        if not path.is_file():
            return None
        meta_path = folder / LUNG_META
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        model = LungUNet(base=int(meta.get("base_channels", 16)))
        model.load_state_dict(load_state_dict(path))
        return cls(fused_for_inference(model), meta, sha256_file(path)[:12])

    @torch.inference_mode()
    def probabilities(self, grays224: np.ndarray) -> np.ndarray:
        """(N, 224, 224) uint8 → (N, 224, 224) float lung probability on the model-input grid."""
        x = seg_input(grays224)
        if self.runtime is not None:
            logits = torch.from_numpy(self.runtime.lung_logits(x.numpy()))
        else:
            logits = self.model(x.contiguous(memory_format=torch.channels_last))
        # Bilinear at pixel centres, as F.interpolate(align_corners=False); OpenCV needs no thread pool here.
        up = [cv2.resize(m, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR) for m in logits[:, 0].numpy()]
        return 1.0 / (1.0 + np.exp(-np.stack(up)))

    def segment_batch(self, grays224: np.ndarray, batch_size: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(grays224), batch_size):
            prob = self.probabilities(grays224[start : start + batch_size])
            out += [clean_mask(p >= 0.5) for p in prob]
        return np.stack(out) if out else np.zeros((0, INPUT_SIZE, INPUT_SIZE), bool)

    def segment(self, gray: np.ndarray) -> np.ndarray:
        """Any-size 8-bit grayscale → (224, 224) bool lung mask on the model-input grid."""
        return self.segment_batch(resize_gray(gray, INPUT_SIZE)[None])[0]


def mask_to_size(mask224: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 224-grid mask at an image's own size (the grid is a plain square resize of it)."""
    if mask224.shape == (height, width):
        return mask224.astype(bool)
    resized = cv2.resize(mask224.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return resized >= 0.5


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    pred, truth = pred.astype(bool), truth.astype(bool)
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2.0 * (pred & truth).sum() / total)
