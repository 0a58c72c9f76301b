"""Validated grayscale → model tensor. Training and inference both go through here."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

INPUT_SIZE = 224
# Mean and spread of kermany224/train pixel values (0..1), rounded; stored in classifier.json too.
PIXEL_MEAN = 0.48
PIXEL_STD = 0.24


def resize_gray(gray: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Square resize without keeping the aspect ratio, as the dataset was made."""
    if gray.shape == (size, size):
        return gray
    return np.asarray(Image.fromarray(gray).resize((size, size), Image.Resampling.BILINEAR))


def normalize(batch_u8: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) uint8 or 0..255 float → (B, 3, H, W) normalised float, channels_last.

    The network is torchvision's ResNet34 with its 3-channel stem; a radiograph is grey,
    so the one channel is repeated.
    """
    if batch_u8.dtype == torch.uint8:
        # NumPy, one thread: the same float32 operations in the same order (bit-identical, tested), without
        # waking torch's thread pool for a few small element-wise steps, which costs ms on a busy 2-core CPU.
        a = batch_u8.numpy()[:, 0].astype(np.float32)
        a /= np.float32(255.0)
        a -= np.float32(PIXEL_MEAN)
        a /= np.float32(PIXEL_STD)
        return torch.from_numpy(np.repeat(a[..., None], 3, axis=3)).permute(0, 3, 1, 2)  # channels_last strides
    x = batch_u8.float().div_(255.0).sub_(PIXEL_MEAN).div_(PIXEL_STD)
    return x.expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last)


def to_model_input(gray: np.ndarray, size: int = INPUT_SIZE) -> torch.Tensor:
    """One 8-bit grayscale image (H, W) → (1, 3, size, size) tensor."""
    square = resize_gray(gray, size)
    return normalize(torch.from_numpy(np.array(square, dtype=np.uint8, copy=True))[None, None])
