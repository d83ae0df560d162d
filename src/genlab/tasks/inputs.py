"""The real images a task starts from: `input=DIR_OR_NPZ`, else the checkpoint dataset's test split
(with its labels), checked against the model's image shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from genlab.checkpoint import load_datamodule
from genlab.errors import ConfigError
from genlab.images import from_uint8
from genlab.models.base import GenerativeModule


def image_shape(model: GenerativeModule, ckpt: dict[str, Any]) -> tuple[int, int, int]:
    """C x H x W of the model's images: from the dataset config saved with it, else one sample's shape."""
    dataset = ckpt["genlab"].get("dataset") or {}
    size = dataset.get("crop_size") or dataset.get("image_size")
    if size and dataset.get("channels"):
        return int(dataset["channels"]), int(size), int(size)
    return tuple(model.sample(1).shape[1:])  # type: ignore[return-value]


def read_input(path: str | Path, shape: tuple[int, int, int]) -> Tensor:
    """uint8 images from a folder or an .npz, refused in one sentence unless they are C x H x W = `shape`."""
    from genlab.data.unpaired import read_images

    path = Path(path).expanduser()
    c, h, w = shape
    if path.suffix == ".npz" and path.is_file():
        with np.load(path) as data:
            array = data["images"] if "images" in data.files else data[data.files[0]] if data.files else None
        if array is not None and array.ndim in (3, 4):
            got = (array.shape[-1] if array.ndim == 4 else 1, *array.shape[1:3])
            if got != shape:
                raise ConfigError(f"input={path}: its images are {got[0]} x {got[1]} x {got[2]} (C x H x W) but the model's are {c} x {h} x {w}")
    images = read_images(path, c)
    if tuple(images.shape[1:]) != shape:
        raise ConfigError(f"input={path}: its images are {'x'.join(map(str, images.shape[2:]))} px but the model's are {h}x{w}; resize them first")
    return images


def task_images(cfg: Any, model: GenerativeModule, ckpt: dict[str, Any], allowed: tuple[str, ...]) -> tuple[Tensor, Tensor | None]:
    """(the first `num_samples` images in [-1, 1], their labels or None)."""
    shape = image_shape(model, ckpt)
    if cfg.input is not None:
        return from_uint8(read_input(cfg.input, shape)[: cfg.num_samples]), None
    datamodule, _ = load_datamodule(ckpt, allowed=allowed)
    images, labels = datamodule.splits["test"]
    if tuple(images.shape[1:]) != shape:
        raise ConfigError(f"the checkpoint's dataset gives {tuple(images.shape[1:])} images but the model makes {shape}; pass input=DIR_OR_NPZ")
    n = cfg.num_samples
    return from_uint8(images[:n]), (labels[:n].long() if datamodule.num_classes else None)
