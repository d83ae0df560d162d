"""Conversions at the edges: inside genlab images are float NCHW in [-1, 1]."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] float NCHW -> uint8 NCHW."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(images: Tensor) -> Tensor:
    """uint8 NCHW -> [-1, 1] float NCHW, in the standard contiguous layout whatever `images`' strides.

    Why the layout: a 1-channel batch cut from H x W x C storage (a prepared folder, a stream) is
    "contiguous" with strides (HW, 1, W, 1), which convolutions read as channels-last and round
    differently, so the same pixels from an IDX file and a PNG folder would train different weights.
    """
    return images.to(torch.float32, memory_format=torch.contiguous_format).div(127.5).sub(1.0)


def to_unit(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1] (what torchmetrics' image metrics expect for floats)."""
    return (images.clamp(-1, 1) + 1) / 2


def make_grid(images: Tensor, nrow: int | None = None, padding: int = 2) -> Tensor:
    """Tile N x C x H x W images into one C x H' x W' image (torchvision's layout, without torchvision)."""
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    grid = images.new_full((c, ncol * (h + padding) + padding, nrow * (w + padding) + padding), images.min())
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def upscale_for_grid(images: Tensor, nrow: int | None = None, min_width: int = 0, padding: int = 2) -> Tensor:
    """Images enlarged by the smallest whole factor (nearest neighbour: every pixel a k x k block,
    nothing smoothed) that makes their `make_grid` at least `min_width` px wide; unchanged if it already is."""
    n, _, h, w = images.shape
    columns = nrow or max(1, math.ceil(math.sqrt(n)))
    factor = max(1, math.ceil((min_width - padding * (columns + 1)) / (columns * w))) if min_width else 1
    return images.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1) if factor > 1 else images


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None, min_width: int = 0) -> Path:
    """Write [-1, 1] images as one PNG grid (at least `min_width` px wide, see upscale_for_grid); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = to_uint8(make_grid(upscale_for_grid(images.cpu(), nrow, min_width), nrow=nrow)).permute(1, 2, 0).numpy()
    Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).save(path)
    return path


def to_hwc_uint8(images: Tensor) -> np.ndarray:
    """[-1, 1] NCHW -> uint8 N x H x W x C numpy (the layout of samples.npz)."""
    return to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
