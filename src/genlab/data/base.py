"""In-memory image datasets: the whole uint8 dataset is one tensor, batches are one indexing op."""

from __future__ import annotations

import enum
import os
from abc import abstractmethod
from collections.abc import Sized
from typing import Annotated

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

# Saves its sampler position and shuffling state in checkpoints, so a mid-epoch resume continues the
# epoch's data order instead of replaying its start (a drop-in torch DataLoader otherwise).
from torchdata.stateful_dataloader import StatefulDataLoader as DataLoader
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler

from genlab.data.device import DeviceBatches, ShardedBatchSampler
from genlab.errors import ConfigError
from genlab.images import from_uint8
from genlab.ranges import AT_LEAST_1, CHANNELS, NON_NEGATIVE, SEED, Range

Split = tuple[Tensor, Tensor]  # uint8 images N x C x H x W, int64 labels N


class Binarize(str, enum.Enum):
    """How (and whether) to binarize images for Bernoulli likelihoods."""

    none = "none"
    static = "static"  # one fixed Bernoulli draw per image (Salakhutdinov & Murray 2008)
    dynamic = "dynamic"  # a fresh draw every time a training image is served


def resize_uint8(images: Tensor, size: int) -> Tensor:
    """Resize uint8 NCHW images (antialiased bilinear); a no-op when the size already matches."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def bernoulli_uint8(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw binary images with P(pixel = 1) = intensity / 255; returns uint8 in {0, 255}."""
    p = images.float() / 255.0
    return (torch.rand(p.shape, generator=generator, device=images.device) < p).to(torch.uint8) * 255


def _batch_collate(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """The dataset already returns a whole batch (see ImageTensorDataset.__getitems__)."""
    return batch


class ImageTensorDataset(Dataset):
    """uint8 images (+ labels) served as float [-1, 1]; `__getitems__` fetches a batch in one op."""

    def __init__(self, images: Tensor, labels: Tensor, dynamic_binarization: bool = False) -> None:
        self.images = images
        self.labels = labels
        self.dynamic_binarization = dynamic_binarization

    def __len__(self) -> int:
        return len(self.images)

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(indices)
        images = self.images[idx]
        if self.dynamic_binarization:
            images = bernoulli_uint8(images)
        return from_uint8(images), self.labels[idx]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        images, labels = self.__getitems__([index])
        return images[0], labels[0]


def run_seed(default: int) -> int:
    """The run's seed (Lightning's seed_everything exports it to every rank), else `default`."""
    return int(os.environ.get("PL_GLOBAL_SEED", default))


def loader_generator(default_seed: int) -> torch.Generator:
    """A DataLoader's own RNG, seeded from the run's seed, for its workers' base seed: creating an
    iterator then never draws from the global RNG, whose state the training steps own (and which
    RNGStateCallback restores on resume)."""
    return torch.Generator().manual_seed(run_seed(default_seed))


def epoch_sampler(dataset: Sized, seed: int, trainer: pl.Trainer | None) -> StatefulDistributedSampler:
    """The training sampler: epoch e's order is `randperm` drawn from `seed + e` alone, this rank's
    shard of it under DDP (DistributedSampler's rule, so Lightning leaves the sampler alone).

    Lightning calls `set_epoch` before every epoch's first batch and the order is drawn lazily at
    that batch, so a run resumed at an epoch's end (Lightning keeps no loader state there) draws the
    same order as the uninterrupted run instead of replaying epoch 0's; mid-epoch, the sampler's
    position travels in the StatefulDataLoader's state.
    """
    rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
    return StatefulDistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)


class InMemoryImageDataModule(pl.LightningDataModule):
    """Base for datasets that fit in memory. Subclasses implement `load_splits`.

    `device_resident`: training batches come from the whole uint8 training split held as one tensor
    on the training device, drawn by index there (genlab.data.device); under DDP each rank draws its
    own slice of every global batch. Otherwise a DataLoader serves them (Lightning then adds a
    DistributedSampler under DDP). Validation and test always use the DataLoader.

    `train_fraction` < 1: the model trains on the first `train_fraction` of the (shuffled) training
    split only (the data-efficient setting of DiffAugment); validation, test, and the classifier
    behind the sample metrics keep the whole dataset, so scores stay comparable with full-data runs.
    """

    #: Number of classes (0: unlabelled). Subclasses set it.
    num_classes: int = 0

    def __init__(
        self,
        image_size: Annotated[int, AT_LEAST_1],
        channels: Annotated[int, CHANNELS],
        batch_size: Annotated[int, AT_LEAST_1] = 64,
        num_workers: Annotated[int, NON_NEGATIVE] = 0,
        binarize: Binarize | str = Binarize.none,
        seed: Annotated[int, SEED] = 0,
        device_resident: bool = False,
        train_fraction: Annotated[float, Range(gt=0, le=1)] = 1.0,
    ) -> None:
        super().__init__()
        if not 0 < train_fraction <= 1:
            raise ConfigError(f"dataset.train_fraction={train_fraction}: expected a fraction in (0, 1]")
        self.image_size = image_size
        self.channels = channels
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.binarize = Binarize(binarize)
        self.seed = seed
        self.device_resident = device_resident
        self.train_fraction = train_fraction
        self.splits: dict[str, Split] = {}
        self.whole_train: Split | None = None  # the full training split when train_fraction < 1

    @abstractmethod
    def load_splits(self) -> dict[str, Split]:
        """Return {"train": ..., "val": ..., "test": ...} as uint8 NCHW images at native size."""

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        generator = torch.Generator().manual_seed(self.seed)
        for name, (images, labels) in self.load_splits().items():
            images = resize_uint8(images, self.image_size)
            # Evaluation splits are binarized once with a fixed seed so validation numbers are stable.
            if self.binarize is Binarize.static or (self.binarize is Binarize.dynamic and name != "train"):
                images = bernoulli_uint8(images, generator)
            self.splits[name] = (images.contiguous(), labels.long())
        if self.train_fraction < 1:
            images, labels = self.whole_train = self.splits["train"]
            n = max(1, round(len(images) * self.train_fraction))
            self.splits["train"] = (images[:n], labels[:n])

    def dataset(self, split: str) -> ImageTensorDataset:
        self.setup()
        images, labels = self.splits[split]
        return ImageTensorDataset(images, labels, self.binarize is Binarize.dynamic and split == "train")

    def classifier_dataset(self, split: str) -> ImageTensorDataset:
        """Images and the labels the classifier feature extractor learns: the class labels (of the
        whole training split, whatever `train_fraction`)."""
        if split == "train" and self.whole_train is not None:
            return ImageTensorDataset(*self.whole_train)
        return self.dataset(split)

    def _loader(self, split: str, shuffle: bool, drop_last: bool) -> DataLoader:
        dataset = self.dataset(split)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=epoch_sampler(dataset, run_seed(self.seed), self.trainer) if shuffle else None,
            drop_last=drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=_batch_collate,
            generator=loader_generator(self.seed),
        )

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        # drop_last: a tiny last batch destabilises BatchNorm statistics in GANs.
        drop_last = len(self.dataset("train")) > self.batch_size
        if not self.device_resident:
            return self._loader("train", shuffle=True, drop_last=drop_last)
        return self._device_batches(drop_last)

    def _device_batches(self, drop_last: bool) -> DeviceBatches:
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        source = self.device_source(device)
        sampler = ShardedBatchSampler(
            len(source),
            self.batch_size,
            drop_last=drop_last,
            rank=rank,
            world_size=world,
            device=device,
            # overfit_batches: the same few batches every epoch (Lightning does this for DataLoaders).
            shuffle=not (trainer is not None and trainer.overfit_batches > 0),
            # Lightning seeds its DistributedSampler the same way: every rank agrees on the order.
            seed=run_seed(self.seed),
        )
        return DeviceBatches(source, sampler)

    def device_source(self, device: torch.device) -> ImageTensorDataset:
        """The training split held on `device`, for device-resident batches (subclasses that crop or
        flip while serving return their own dataset)."""
        images, labels = self.splits["train"]
        return ImageTensorDataset(images.to(device), labels.to(device), self.binarize is Binarize.dynamic)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False, drop_last=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False, drop_last=False)
