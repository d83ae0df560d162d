"""Two texture photographs shipped with scikit-image as an unpaired translation task for CPUs.

Domain A is `skimage.data.grass()` (thin, directional blades), domain B `skimage.data.gravel()`
(rounded stones with dark gaps): both 512 x 512 grayscale photographs with nearly the same mean and
contrast, so a model must change structure, not just brightness. No download: the files are in the
scikit-image wheel.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from torch import Tensor

from genlab.data.base import resize_uint8
from genlab.data.unpaired import TensorSource, UnpairedDataModule
from genlab.errors import ConfigError
from genlab.ranges import AT_LEAST_1, CHANNELS, NON_NEGATIVE, SEED, Range


def texture_photos() -> dict[str, Tensor]:
    """{"A": grass, "B": gravel} as uint8 1 x 512 x 512."""
    from skimage import data

    return {"A": torch.from_numpy(np.ascontiguousarray(data.grass()))[None], "B": torch.from_numpy(np.ascontiguousarray(data.gravel()))[None]}


def random_crops(image: Tensor, rows: tuple[int, int], n: int, size: int, generator: torch.Generator) -> tuple[Tensor, list[tuple[int, int]]]:
    """`n` uniformly placed `size` x `size` crops of a C x H x W image within rows [start, stop):
    (uint8 N x C x size x size, their (top, left) corners)."""
    start, stop = rows
    tops = (start + torch.randint(stop - start - size + 1, (n,), generator=generator)).tolist()
    lefts = torch.randint(image.shape[-1] - size + 1, (n,), generator=generator).tolist()
    corners = list(zip(tops, lefts))
    return torch.stack([image[:, t : t + size, x : x + size] for t, x in corners]), corners


class TexturesDataModule(UnpairedDataModule):
    """Grass (A) to gravel (B) crops.

    Each photograph is scaled by `scale` (0.5: a 32 px crop then holds a few blades or stones), then
    split by rows: the top `1 - test_fraction` gives the training crops and the bottom part the test
    crops, so train and test never share a pixel. Crop positions are drawn once from `seed`;
    training flips them at random.
    """

    def __init__(
        self,
        crop_size: Annotated[int, AT_LEAST_1] = 32,
        scale: Annotated[float, Range(gt=0, le=1)] = 0.5,
        train_crops: Annotated[int, AT_LEAST_1] = 1024,
        test_crops: Annotated[int, AT_LEAST_1] = 64,
        test_fraction: Annotated[float, Range(gt=0, lt=1)] = 0.25,
        channels: Annotated[int, CHANNELS] = 1,
        flip: bool = True,
        batch_size: Annotated[int, AT_LEAST_1] = 8,
        num_workers: Annotated[int, NON_NEGATIVE] = 0,
        seed: Annotated[int, SEED] = 0,
    ) -> None:
        super().__init__(crop_size=crop_size, channels=channels, flip=flip, batch_size=batch_size, num_workers=num_workers, seed=seed)
        if channels not in (1, 3):
            raise ConfigError(f"dataset.channels={channels}: the textures are grayscale; use 1 (or 3 to repeat it)")
        if not 0 < test_fraction < 1:
            raise ConfigError(f"dataset.test_fraction={test_fraction}: must lie strictly between 0 and 1")
        generator = torch.Generator().manual_seed(seed)
        #: The scaled photographs and, per (split, domain), the crops' (top, left) corners in them.
        self.photos: dict[str, Tensor] = {}
        self.corners: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for domain, photo in texture_photos().items():
            size = round(photo.shape[-1] * scale)
            self.photos[domain] = photo = resize_uint8(photo[None], size)[0]
            split_row = round(size * (1 - test_fraction))
            self.rows = {"train": (0, split_row), "test": (split_row, size)}
            for split, count in (("train", train_crops), ("test", test_crops)):
                start, stop = self.rows[split]
                if stop - start < crop_size or size < crop_size:
                    raise ConfigError(
                        f"dataset.crop_size={crop_size}: the {split} rows of the scaled photograph are only "
                        f"{stop - start} x {size} px; lower crop_size or raise scale/test_fraction"
                    )
                crops, self.corners[(split, domain)] = random_crops(photo, self.rows[split], count, crop_size, generator)
                self.sources[(split, domain)] = TensorSource(crops.expand(-1, channels, -1, -1).contiguous())
