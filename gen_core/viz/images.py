"""Turn image tensors in [0, 1] into uint8 arrays for display: single images, grids and strips."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def to_uint8(image: Tensor, scale: int = 1) -> np.ndarray:
    """(1, H, W) or (H, W) in [0, 1] -> (H*scale, W*scale) uint8, upscaled by pixel repetition (no blur)."""
    img = image.detach().float().cpu().reshape(image.shape[-2], image.shape[-1]).clamp(0, 1)
    arr = (img.numpy() * 255.0 + 0.5).astype(np.uint8)
    return np.kron(arr, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else arr


def tile_images(images: Tensor, ncol: int, scale: int = 1, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """(N, 1, H, W) in [0, 1] -> one uint8 grid image with ``ncol`` columns and ``pad`` px gutters."""
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    n, _, h, w = images.shape
    nrow = (n + ncol - 1) // ncol
    canvas = torch.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), pad_value)
    for i in range(n):
        r, c = divmod(i, ncol)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = images[i, 0]
    return to_uint8(canvas, scale)


def image_strip(images: Tensor, scale: int = 1, pad: int = 2) -> np.ndarray:
    """(N, 1, H, W) -> a single row."""
    return tile_images(images, ncol=images.shape[0], scale=scale, pad=pad)
