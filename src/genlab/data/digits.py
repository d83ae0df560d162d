"""scikit-learn's 8x8 handwritten digits (1,797 images, embedded: no download)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from sklearn.datasets import load_digits

from genlab.data.base import InMemoryImageDataModule, Split
from genlab.ranges import AT_LEAST_1, CHANNELS


class DigitsDataModule(InMemoryImageDataModule):
    """Digits resized to `image_size`; a deterministic, class-stratified 80/10/10 train/val/test split."""

    num_classes = 10

    def __init__(self, image_size: Annotated[int, AT_LEAST_1] = 16, channels: Annotated[int, CHANNELS] = 1, **kwargs) -> None:
        super().__init__(image_size=image_size, channels=channels, **kwargs)

    def load_splits(self) -> dict[str, Split]:
        digits = load_digits()
        # Pixel values are 0..16; scale to the 8-bit range every other dataset uses.
        images = torch.from_numpy(np.round(digits.images * 255.0 / 16.0).astype(np.uint8))[:, None]
        labels = torch.from_numpy(digits.target)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
        n_val = n_test = len(images) // 10
        val, test, train = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]
        images = images.expand(-1, self.channels, -1, -1)
        return {name: (images[idx], labels[idx]) for name, idx in (("train", train), ("val", val), ("test", test))}
