"""Disk-backed single-domain datasets, served from their prepared entry (genlab.data.prepared).

`PreparedImageDataModule` is an InMemoryImageDataModule whose splits are memory-mapped uint8 arrays
decoded once, so models, metrics and genlab-sample see the same contract as for in-memory data.
Subclasses (image_folder, cifar10/100, celeba) only say which files to decode and how.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import torch
from torch import Tensor

from genlab.data.base import Binarize, ImageTensorDataset, InMemoryImageDataModule, Split, bernoulli_uint8, run_seed
from genlab.data.prepared import SplitPlan, entry_dir, load, prepare
from genlab.errors import ConfigError
from genlab.images import from_uint8
from genlab.ranges import AT_LEAST_1, CHANNELS


class Crop(str, enum.Enum):
    """How training images are cut from the stored `load_size` squares (evaluation: always centred)."""

    center = "center"
    random = "random"


class PreparedImages(ImageTensorDataset):
    """Images of a prepared entry (uint8 N x L x L x C, usually memory-mapped) served as float NCHW
    in [-1, 1] at `size` px: centre crops, or random crops and horizontal flips when `random_crop` /
    `flip` (training). `images` is the NCHW view of the centre crops (what metrics compare against).

    The crop offsets and flips of a batch are drawn at once, from a generator seeded by `seed` and the
    batch's indices (never the global RNG) and applied as one gather: they cost the same on the
    device-resident path as on a DataLoader, differ between epochs (the order does), and a run
    resumed mid-epoch draws the very crops the uninterrupted run drew for the same batch.
    """

    def __init__(
        self,
        full: Tensor,
        labels: Tensor,
        size: int,
        random_crop: bool = False,
        flip: bool = False,
        dynamic_binarization: bool = False,
        seed: int = 0,
    ) -> None:
        offset = (full.shape[1] - size) // 2
        super().__init__(full[:, offset : offset + size, offset : offset + size].permute(0, 3, 1, 2), labels, dynamic_binarization)
        self.full, self.size, self.random_crop, self.flip, self.seed = full, size, random_crop, flip, seed

    def to(self, device: torch.device) -> PreparedImages:
        args = (self.full.to(device), self.labels.to(device), self.size, self.random_crop, self.flip, self.dynamic_binarization)
        return PreparedImages(*args, seed=self.seed)

    def __getitems__(self, indices: list[int] | Tensor) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(indices, device=self.full.device)
        if self.random_crop or self.flip:
            images = self._augmented(idx)
        else:  # index whole H x W x C rows of the stored array (contiguous reads), then crop and transpose
            offset, size = (self.full.shape[1] - self.size) // 2, self.size
            images = self.full[idx][:, offset : offset + size, offset : offset + size].permute(0, 3, 1, 2).contiguous()
        if self.dynamic_binarization:
            images = bernoulli_uint8(images)
        return from_uint8(images), self.labels[idx]

    def _augmented(self, idx: Tensor) -> Tensor:
        n, span, size = len(idx), self.full.shape[1] - self.size + 1, self.size
        # Python hashes tuples of ints the same in every process (PYTHONHASHSEED only salts str/bytes).
        g = torch.Generator().manual_seed(hash((self.seed, *idx.tolist())) % 2**63)
        if self.random_crop:
            top, left = torch.randint(span, (2, n), generator=g)
        else:
            top = left = torch.full((n,), (self.full.shape[1] - size) // 2)
        steps = torch.arange(size)
        cols = left[:, None] + steps
        if self.flip:
            flipped = torch.rand(n, generator=g) < 0.5
            cols = torch.where(flipped[:, None], left[:, None] + steps.flip(0), cols)
        rows, cols = (top[:, None] + steps).to(idx.device), cols.to(idx.device)
        return self.full[idx[:, None, None], rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


class PreparedImageDataModule(InMemoryImageDataModule):
    """Base of disk-backed single-domain datasets: decoded once into a prepared entry, memory-mapped.

    Subclasses say what to decode (`plan`: cheap, lists files; `cache_key`: the files' fingerprint +
    preprocessing) at `load_size` px (the stored size; `image_size` crops of it are served).
    `prepare_data` (Lightning: once per node, before `setup` on any rank) builds the entry;
    `setup` maps it. `genlab-prepare` calls `prepare_data` ahead of a job.
    """

    #: Name of the entry's folder (before the hash).
    cache_name = "dataset"
    #: Splits served by another split's images, e.g. {"val": "test"} when a dataset has no val set.
    split_aliases: dict[str, str] = {}

    def __init__(
        self,
        image_size: Annotated[int, AT_LEAST_1],
        channels: Annotated[int, CHANNELS],
        cache_dir: str | None = None,
        load_size: Annotated[int | None, AT_LEAST_1] = None,
        crop: Crop | str = Crop.center,
        flip: bool = False,
        skip_bad_files: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_size=image_size, channels=channels, **kwargs)
        if self.train_fraction < 1:  # subsetting lives in InMemoryImageDataModule.setup, which this setup replaces
            raise ConfigError(f"dataset.train_fraction={self.train_fraction}: disk-backed datasets train on their whole training split; expected 1")
        self.cache_dir, self.crop, self.flip, self.skip_bad_files = cache_dir, Crop(crop), flip, skip_bad_files
        # A random crop needs room to move: 1/8 more than the crop by default (CycleGAN's 286 for 256).
        self.load_size = load_size or (image_size + max(1, image_size // 8) if self.crop is Crop.random else image_size)
        if self.load_size < image_size:
            raise ConfigError(f"dataset.load_size={self.load_size}: must be at least dataset.image_size={image_size}")
        self.full: dict[str, Tensor] = {}
        self._entry: Path | None = None

    def plan(self) -> dict[str, SplitPlan]:
        """{"train": ..., "val": ..., "test": ...}: what to decode (splits may share a plan)."""
        raise NotImplementedError

    def cache_key(self) -> dict[str, Any]:
        """Everything that changes the prepared images: the files' fingerprint and the preprocessing."""
        raise NotImplementedError

    def entry(self) -> Path:
        """This dataset's entry; the files are fingerprinted once per datamodule (a stat per file)."""
        if self._entry is None:
            key = {**self.cache_key(), "load_size": self.load_size, "channels": self.channels}
            self._entry = entry_dir(self.cache_dir, self.cache_name, key)
        return self._entry

    def prepare_data(self) -> None:
        prepare(self.entry(), self.plan, (self.load_size, self.load_size, self.channels), self.skip_bad_files)

    def load_splits(self) -> dict[str, Split]:
        raise NotImplementedError("prepared datasets are mapped by setup(), not loaded")

    def unlabelled_hint(self) -> str:
        """How to give this dataset labels (the message when a conditional model meets none)."""
        return "this dataset has no labels"

    def check_model(self) -> None:
        """A class-conditional model (cgan) needs labels, and no more classes than its embedding has."""
        model = self.trainer.lightning_module if self.trainer is not None else None
        wanted = int(getattr(model, "num_classes", 0) or 0)
        if wanted and not self.num_classes:
            raise ConfigError(
                f"the model is class-conditional (num_classes={wanted}) but {self.unlabelled_hint()}; use model=gan for unlabelled data"
            )
        if wanted and self.num_classes > wanted:
            raise ConfigError(
                f"model.generator.num_classes={wanted} but the dataset has {self.num_classes} classes; set model.generator.num_classes={self.num_classes}"
            )

    def setup(self, stage: str | None = None) -> None:
        self.check_model()
        if self.splits:
            return
        self.prepare_data()  # a no-op when built (by the rank-0 prepare_data or an earlier run)
        generator = torch.Generator().manual_seed(self.seed)
        for name, (array, labels) in load(self.entry()).items():
            full = torch.from_numpy(array)
            # Evaluation splits are binarized once with a fixed seed (as InMemoryImageDataModule does).
            if self.binarize is Binarize.static or (self.binarize is Binarize.dynamic and name != "train"):
                full = bernoulli_uint8(full, generator)
            self.full[name] = full
            self.splits[name] = (PreparedImages(full, torch.from_numpy(labels), self.image_size).images, torch.from_numpy(labels))
        for alias, name in self.split_aliases.items():
            self.full[alias], self.splits[alias] = self.full[name], self.splits[name]

    def dataset(self, split: str) -> PreparedImages:
        self.setup()
        train = split == "train"
        return PreparedImages(
            self.full[split],
            self.splits[split][1],
            self.image_size,
            random_crop=train and self.crop is Crop.random,
            flip=train and self.flip,
            dynamic_binarization=train and self.binarize is Binarize.dynamic,
            seed=run_seed(self.seed),
        )

    def device_source(self, device: torch.device) -> PreparedImages:
        return self.dataset("train").to(device)
