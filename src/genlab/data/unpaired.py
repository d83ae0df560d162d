"""Unpaired two-domain image data (CycleGAN): a batch is a pair `(images_A, images_B)` of unaligned
image batches, float NCHW in [-1, 1].

`UnpairedFolderDataModule` reads the official layout (`trainA/ trainB/ testA/ testB/`) from disk one
image at a time (full-size datasets need not fit in memory); the in-memory texture data lives in
genlab.data.textures. Both share `UnpairedDataModule`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Protocol

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset, get_worker_info
from torchdata.stateful_dataloader import StatefulDataLoader as DataLoader  # data order survives a mid-epoch resume

from genlab.data.base import ImageTensorDataset, epoch_sampler, loader_generator, run_seed
from genlab.errors import ConfigError
from genlab.images import from_uint8, to_uint8
from genlab.ranges import AT_LEAST_1, CHANNELS, NON_NEGATIVE, SEED

DOMAINS = ("A", "B")
SPLITS = ("train", "test")
#: File endings PIL can read (.png, .jpg, .jpeg, .bmp, .webp, .tif, ...).
IMAGE_EXTENSIONS = frozenset(ext.lower() for ext in Image.registered_extensions())


class ImageSource(Protocol):
    """A sized collection of uint8 C x H x W images."""

    def __len__(self) -> int: ...

    def load(self, index: int) -> Tensor: ...


# -- sources -----------------------------------------------------------------------------------------
def pil_to_uint8(image: Image.Image, channels: int, size: int | None = None) -> Tensor:
    """A PIL image as uint8 C x H x W with `channels` (1: grayscale, 3: RGB), optionally resized to a square."""
    image = image.convert("L" if channels == 1 else "RGB")
    if size is not None and image.size != (size, size):
        # Bicubic to a square, as the official `resize_and_crop` preprocessing does.
        image = image.resize((size, size), Image.BICUBIC)
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.reshape(array.shape[0], array.shape[1], -1).copy()).permute(2, 0, 1)


def list_images(folder: Path, key: str) -> list[Path]:
    """Sorted image files in `folder`; ConfigError naming the path if it is missing, empty or holds a
    file that is not a readable image (hidden files such as .DS_Store are ignored)."""
    if not folder.is_dir():
        raise ConfigError(f"{key}: folder {folder} does not exist (expected trainA/ trainB/ testA/ testB/ of images)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ConfigError(f"{key}: folder {folder} holds no images")
    for path in files:
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise ConfigError(f"{key}: {path} is not an image file (expected one of .png, .jpg, .jpeg, .bmp, ...)")
        try:  # decodes each file once (~1 ms for 256 px): truncated or mislabelled files fail before training
            with Image.open(path) as image:
                image.load()
        except (UnidentifiedImageError, OSError) as err:
            raise ConfigError(f"{key}: {path} is not a readable image ({err})") from None
    return files


class FolderSource:
    """Image files read with PIL on demand, resized to `size` x `size` (None: native size)."""

    def __init__(self, files: Sequence[Path], channels: int, size: int | None) -> None:
        self.files, self.channels, self.size = list(files), channels, size

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> Tensor:
        with Image.open(self.files[index]) as image:
            return pil_to_uint8(image, self.channels, self.size)


class TensorSource:
    """Images held in memory as one uint8 N x C x H x W tensor."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> Tensor:
        return self.images[index]


# -- crops and flips ---------------------------------------------------------------------------------
def crop(image: Tensor, size: int, random: bool, generator: torch.Generator | None = None) -> Tensor:
    """A `size` x `size` crop of a C x H x W image: uniformly placed (drawn from `generator`), or centred."""
    h, w = image.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"image of {h}x{w} px is smaller than the crop size {size}")
    if random:
        top = int(torch.randint(h - size + 1, (), generator=generator))
        left = int(torch.randint(w - size + 1, (), generator=generator))
    else:
        top, left = (h - size) // 2, (w - size) // 2
    return image[..., top : top + size, left : left + size]


class UnpairedDataset(Dataset):
    """Item i: (A[i mod |A|], B[j]) with j random when training (unaligned, as the official loader)
    and i mod |B| otherwise. Training also crops at random and flips with probability 1/2.

    The random draws come from the dataset's own generator, seeded from `seed` and `rank` (and, in a
    loader worker, the worker's seed): data-parallel ranks draw different B images, crops and flips
    (they share the global RNG's state, which keeps their noise in lockstep), and loading never
    draws from the global RNG.
    """

    def __init__(
        self, source_a: ImageSource, source_b: ImageSource, crop_size: int, train: bool, flip: bool = True, seed: int = 0, rank: int = 0
    ) -> None:
        self.source_a, self.source_b = source_a, source_b
        self.crop_size, self.train, self.flip = crop_size, train, flip
        self.seed, self.rank = seed, rank
        self._generator: torch.Generator | None = None
        self._worker: int | None = None

    def __len__(self) -> int:
        return max(len(self.source_a), len(self.source_b))

    def generator(self) -> torch.Generator:
        """This process's generator: made on first use, and anew in each loader worker."""
        worker = get_worker_info()
        worker_id = worker.id if worker is not None else None
        if self._generator is None or worker_id != self._worker:
            base = worker.seed if worker is not None else self.seed  # worker seeds: base seed + worker id
            self._generator = torch.Generator().manual_seed((base * 1_000_003 + self.rank) % 2**63)
            self._worker = worker_id
        return self._generator

    def transform(self, image: Tensor) -> Tensor:
        image = crop(image, self.crop_size, random=self.train, generator=self.generator())
        if self.train and self.flip and bool(torch.rand((), generator=self.generator()) < 0.5):
            image = image.flip(-1)
        return from_uint8(image)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        j = int(torch.randint(len(self.source_b), (), generator=self.generator())) if self.train else index % len(self.source_b)
        return self.transform(self.source_a.load(index % len(self.source_a))), self.transform(self.source_b.load(j))


# -- data modules ------------------------------------------------------------------------------------
class UnpairedDataModule(pl.LightningDataModule):
    """Two domains A and B, each with a train and a test split. Validation uses the test split (the
    official datasets have no validation split). Subclasses fill `self.sources[(split, domain)]`."""

    #: The domains, as the classes of the classifier feature extractor (see `classifier_dataset`).
    num_classes = len(DOMAINS)

    def __init__(self, crop_size: int, channels: int, flip: bool = True, batch_size: int = 1, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.crop_size, self.channels, self.flip = crop_size, channels, flip
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.sources: dict[tuple[str, str], ImageSource] = {}

    @property
    def image_size(self) -> int:
        """The side of the images the model sees (the crop), as InMemoryImageDataModule names it."""
        return self.crop_size

    def source(self, split: str, domain: str) -> ImageSource:
        """The images of one split ("val" is the test split) and domain."""
        return self.sources[("test" if split == "val" else split, domain)]

    def dataset(self, split: str) -> UnpairedDataset:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        return UnpairedDataset(
            self.source(split, "A"),
            self.source(split, "B"),
            self.crop_size,
            train=split == "train",
            flip=self.flip,
            seed=run_seed(self.seed),
            rank=rank,
        )

    @property
    def splits(self) -> tuple[str, ...]:
        """The split names (what iterating InMemoryImageDataModule.splits gives too)."""
        return ("train", "val", "test")

    def setup(self, stage: str | None = None) -> None:
        """Nothing to do: the sources are listed (and checked) in __init__, images load lazily."""

    def num_images(self, split: str, domain: str) -> int:
        return len(self.source(split, domain))

    def images(self, split: str, domain: str, n: int | None = None, indices: Sequence[int] | None = None) -> Tensor:
        """Images of one domain (the first `n`, or those at `indices`), centre-cropped, float NCHW in [-1, 1]."""
        source = self.source(split, domain)
        if indices is None:
            indices = range(len(source) if n is None else min(n, len(source)))
        return torch.stack([from_uint8(crop(source.load(int(i)), self.crop_size, random=False)) for i in indices])

    def classifier_dataset(self, split: str, max_per_domain: int = 2000) -> ImageTensorDataset:
        """Centre-cropped images of both domains labelled by domain (A: 0, B: 1), at most
        `max_per_domain` each: the classifier extractor learns to tell the domains apart, so its
        features score how much a translation looks like its target domain ("domain-classifier FID")."""
        images = [self.images(split, domain, min(max_per_domain, self.num_images(split, domain))) for domain in DOMAINS]
        labels = torch.cat([torch.full((len(x),), label) for label, x in enumerate(images)])
        return ImageTensorDataset(to_uint8(torch.cat(images)), labels)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.dataset(split)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=epoch_sampler(dataset, run_seed(self.seed), self.trainer) if shuffle else None,
            # InstanceNorm copes with any batch size, but equal batches keep the pools' turnover steady.
            drop_last=shuffle and len(dataset) > self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            generator=loader_generator(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class UnpairedFolderDataModule(UnpairedDataModule):
    """`data_dir/{trainA,trainB,testA,testB}/` of image files (any format PIL reads, any sizes).

    Each image is resized to `load_size` x `load_size` (bicubic), then cropped to `crop_size`: at
    random (and flipped) for training, centred for evaluation. `load_size=286, crop_size=256` is the
    paper's setting; `load_size = crop_size` just resizes.
    """

    def __init__(
        self,
        data_dir: str,
        load_size: Annotated[int, AT_LEAST_1] = 286,
        crop_size: Annotated[int, AT_LEAST_1] = 256,
        channels: Annotated[int, CHANNELS] = 3,
        flip: bool = True,
        batch_size: Annotated[int, AT_LEAST_1] = 1,
        num_workers: Annotated[int, NON_NEGATIVE] = 0,
        seed: Annotated[int, SEED] = 0,
    ) -> None:
        super().__init__(crop_size=crop_size, channels=channels, flip=flip, batch_size=batch_size, num_workers=num_workers, seed=seed)
        if crop_size > load_size:
            raise ConfigError(f"dataset.crop_size={crop_size} is larger than dataset.load_size={load_size}")
        self.data_dir = Path(data_dir).expanduser()
        self.load_size = load_size
        if not self.data_dir.is_dir():
            raise ConfigError(f"dataset.data_dir={self.data_dir} does not exist (expected trainA/ trainB/ testA/ testB/ of images)")
        # Listed and checked now, so a bad folder fails before training starts.
        for split in SPLITS:
            for domain in DOMAINS:
                files = list_images(self.data_dir / f"{split}{domain}", "dataset.data_dir")
                self.sources[(split, domain)] = FolderSource(files, channels, load_size)


def read_images(path: str | Path, channels: int, size: int | None = None) -> Tensor:
    """Images for translation from a folder of image files or an .npz (key `images`, else its first
    array; uint8 N x H x W x C or N x H x W), as uint8 NCHW with `channels`, resized to `size` if given."""
    path = Path(path).expanduser()
    if path.is_dir():
        files = list_images(path, "input")
        sizes = {Image.open(f).size for f in files} if size is None else set()
        if len(sizes) > 1:
            raise ConfigError(f"input={path}: images of different sizes {sorted(sizes)}; they must match")
        return torch.stack([FolderSource(files, channels, size).load(i) for i in range(len(files))])
    if path.suffix == ".npz" and path.is_file():
        with np.load(path) as data:
            if not data.files:
                raise ConfigError(f"input={path}: the archive is empty")
            array = data["images"] if "images" in data.files else data[data.files[0]]
        if array.dtype != np.uint8 or array.ndim not in (3, 4):
            raise ConfigError(f"input={path}: expected uint8 N x H x W x C images, got {array.dtype} {array.shape}")
        array = array[..., None] if array.ndim == 3 else array
        modes = {1: "L", 3: "RGB", 4: "RGBA"}
        if array.shape[-1] not in modes:
            raise ConfigError(f"input={path}: expected 1, 3 or 4 channels, got {array.shape[-1]}")
        images = [Image.fromarray(a.squeeze(-1) if a.shape[-1] == 1 else a, modes[a.shape[-1]]) for a in array]
        return torch.stack([pil_to_uint8(image, channels, size) for image in images])
    raise ConfigError(f"input={path}: expected a folder of images or an .npz file")
