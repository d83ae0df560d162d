"""MNIST (and any dataset in its IDX format, e.g. Fashion-MNIST) read from local files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Annotated

import numpy as np
import torch

from genlab.data.base import InMemoryImageDataModule, Split
from genlab.errors import ConfigError
from genlab.ranges import AT_LEAST_1, CHANNELS

IDX_DTYPE = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32, 0x0E: np.float64}
MNIST_URL = "https://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array of its declared dtype and shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
        dtype = np.dtype(IDX_DTYPE[dtype_code]).newbyteorder(">")
        array = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
        if zero != 0 or array.size != int(np.prod(shape)):
            raise ValueError("header does not match the payload")
    except (OSError, KeyError, ValueError, struct.error) as err:
        raise ConfigError(f"{path} is not a valid IDX file ({err}); re-download it from {MNIST_URL}") from None
    return array.reshape(shape).astype(dtype.newbyteorder("="))


def find_idx(data_dir: Path, stem: str) -> Path:
    """The IDX file `stem` in `data_dir`, gzipped or raw; a ConfigError naming what is expected if absent."""
    for name in (f"{stem}.gz", stem):
        if (data_dir / name).is_file():
            return data_dir / name
    raise ConfigError(
        f"dataset.data_dir={data_dir}: missing {stem}(.gz). Expected the MNIST IDX files "
        f"train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
        f"(raw or .gz) from {MNIST_URL}"
    )


class MNISTDataModule(InMemoryImageDataModule):
    """MNIST from IDX files. `train_split=train` trains on the train files and validates/tests on t10k;
    `train_split=t10k` trains on t10k minus its last `val_size` images and validates/tests on those."""

    num_classes = 10

    def __init__(
        self,
        data_dir: str,
        train_split: str = "train",
        val_size: Annotated[int, AT_LEAST_1] = 2000,
        image_size: Annotated[int, AT_LEAST_1] = 28,
        channels: Annotated[int, CHANNELS] = 1,
        **kwargs,
    ) -> None:
        super().__init__(image_size=image_size, channels=channels, **kwargs)
        self.data_dir = Path(data_dir).expanduser()
        if train_split not in ("train", "t10k"):
            raise ConfigError(f"dataset.train_split={train_split!r}: expected 'train' or 't10k'")
        if not self.data_dir.is_dir():
            raise ConfigError(
                f"dataset.data_dir={self.data_dir} does not exist. Put the MNIST IDX files "
                f"(train-images-idx3-ubyte.gz, ..., t10k-labels-idx1-ubyte.gz) there; get them from {MNIST_URL}"
            )
        self.train_split = train_split
        self.val_size = val_size
        # Fail now, before any training starts, if a file we will need is missing.
        self.files = {
            split: (find_idx(self.data_dir, f"{split}-images-idx3-ubyte"), find_idx(self.data_dir, f"{split}-labels-idx1-ubyte"))
            for split in dict.fromkeys((train_split, "t10k"))
        }

    def _read(self, split: str) -> Split:
        images_path, labels_path = self.files[split]
        images = torch.from_numpy(read_idx(images_path).copy())
        labels = torch.from_numpy(read_idx(labels_path).astype(np.int64))
        if images.ndim != 3 or len(images) != len(labels):
            raise ConfigError(f"{images_path}: expected N x H x W images matching {len(labels)} labels, got {tuple(images.shape)}")
        return images[:, None].expand(-1, self.channels, -1, -1), labels

    def load_splits(self) -> dict[str, Split]:
        t10k = self._read("t10k")
        if self.train_split == "train":
            return {"train": self._read("train"), "val": t10k, "test": t10k}
        if not 0 < self.val_size < len(t10k[0]):
            raise ConfigError(f"dataset.val_size={self.val_size}: must be between 1 and {len(t10k[0]) - 1}")
        train = tuple(t[: -self.val_size] for t in t10k)
        held_out = tuple(t[-self.val_size :] for t in t10k)
        return {"train": train, "val": held_out, "test": held_out}  # type: ignore[dict-item]


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (gzipped if the name ends in .gz). Used by tests and tools."""
    path = Path(path)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    with (gzip.open if path.suffix == ".gz" else open)(path, "wb") as f:
        f.write(payload)
    return path
