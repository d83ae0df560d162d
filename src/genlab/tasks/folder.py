"""format=folder: labelled images as a class-per-folder PNG tree (out/images/<class>/<index>.png) that
`dataset=image_folder` reads back with labels=auto (one class per first-level subfolder).

Class folders are the label numbers zero-padded to one width, so their sorted order is the numeric one.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from torch import Tensor

from genlab.images import to_hwc_uint8


def write_folder(images: Tensor, labels: Tensor, root: Path, num_classes: int) -> Path:
    """Write [-1, 1] NCHW `images` with int `labels` under `root`; returns root."""
    width = len(str(max(num_classes - 1, 0)))
    pixels = to_hwc_uint8(images)
    for index, (array, label) in enumerate(zip(pixels, labels.tolist())):
        folder = root / f"{int(label):0{width}d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(folder / f"{index:06d}.png")
    return root
