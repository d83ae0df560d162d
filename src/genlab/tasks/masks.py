"""Completion masks: bool N x C x H x W, True where a pixel is visible (kept), False where it is filled.

`mask=` names one of `MASKS` or is the path of a mask image (.png/.npy, H x W, nonzero = visible) of
the model's image size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.errors import ConfigError


def bottom_half(h: int, w: int, fraction: float, generator: torch.Generator) -> Tensor:
    keep = torch.ones(h, w, dtype=torch.bool)
    keep[h // 2 :] = False
    return keep


def right_half(h: int, w: int, fraction: float, generator: torch.Generator) -> Tensor:
    keep = torch.ones(h, w, dtype=torch.bool)
    keep[:, w // 2 :] = False
    return keep


def center(h: int, w: int, fraction: float, generator: torch.Generator) -> Tensor:
    keep = torch.ones(h, w, dtype=torch.bool)
    keep[h // 4 : h - h // 4, w // 4 : w - w // 4] = False
    return keep


def random(h: int, w: int, fraction: float, generator: torch.Generator) -> Tensor:
    """A `fraction` (mask_fraction) of the pixels, drawn uniformly, is missing."""
    return torch.rand(h, w, generator=generator) >= fraction


MASKS: dict[str, Callable[[int, int, float, torch.Generator], Tensor]] = {
    "bottom_half": bottom_half,
    "right_half": right_half,
    "center": center,
    "random": random,
}


def read_mask_file(path: Path, h: int, w: int) -> Tensor:
    if path.suffix == ".npy":
        array = np.load(path)
    else:
        from PIL import Image

        array = np.asarray(Image.open(path).convert("L"))
    if array.ndim != 2 or array.shape != (h, w):
        raise ConfigError(f"mask={path}: it is {'x'.join(map(str, array.shape))} but the model's images are {h}x{w}; use a {h}x{w} mask")
    return torch.from_numpy(array != 0)


def make_mask(name: str, shape: tuple[int, ...], fraction: float, generator: torch.Generator) -> Tensor:
    """The visible-pixel mask for images of `shape` (N x C x H x W); the same mask for every channel."""
    n, c, h, w = shape
    if name in MASKS:
        keep = MASKS[name](h, w, fraction, generator)
    elif Path(name).expanduser().is_file():
        keep = read_mask_file(Path(name).expanduser(), h, w)
    else:
        raise ConfigError(f"mask={name}: must be one of {', '.join(MASKS)} or the path of an H x W mask image (.png or .npy)")
    return keep.expand(n, c, h, w).clone()
