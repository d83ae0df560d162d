"""dataset=cifar10 / cifar100 from the official python archives (https://www.cs.toronto.edu/~kriz/cifar.html).

`data_dir` is the downloaded `cifar-10-python.tar.gz` (`cifar-100-python.tar.gz`) itself, its unpacked
`cifar-10-batches-py/` (`cifar-100-python/`), or a folder holding either. Each batch is a pickled dict:
b'data' uint8 N x 3072 (row-major 3 x 32 x 32, channels R, G, B), b'labels' (CIFAR-10) or
b'fine_labels' / b'coarse_labels' (CIFAR-100). The official split: train = the training batches,
test = the test batch; there is no official validation set, so validation uses the test batch.
The pickles are read with an unpickler that builds only numpy arrays and plain containers, so a
doctored archive cannot run code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from PIL import Image

from genlab.data.disk import PreparedImageDataModule
from genlab.data.prepared import SplitPlan, fingerprint
from genlab.errors import ConfigError
from genlab.ranges import AT_LEAST_1, CHANNELS

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

#: What a CIFAR pickle may construct: numpy arrays and dtypes (module names of numpy 1 and 2).
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # numpy arrays pickled by Python 2 store their bytes through it
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def unpickle(data: bytes, name: str) -> dict[bytes, Any]:
    """A CIFAR batch (bytes keys, as the official `pickle.load(f, encoding='bytes')` reads them)."""
    try:
        batch = _ArraysOnly(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a damaged or foreign file
        raise ConfigError(f"{name} is not a CIFAR python batch ({err}); re-download it from {CIFAR_URL}") from None
    if not isinstance(batch, dict) or b"data" not in batch:
        raise ConfigError(f"{name} is not a CIFAR python batch (no b'data' entry); re-download it from {CIFAR_URL}")
    return batch


class CIFARDataModule(PreparedImageDataModule):
    """CIFAR-10 (`variant=10`) or CIFAR-100 (`variant=100`, fine labels). The variant is a class attribute,
    not an argument, so a subclass's generated schema (genlab.schemas) has no key it may not change."""

    LAYOUT = {
        10: ("cifar-10-python.tar.gz", "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
        100: ("cifar-100-python.tar.gz", "cifar-100-python", ["train"], ["test"], b"fine_labels"),
    }
    split_aliases = {"val": "test"}
    variant = 10

    def __init__(self, data_dir: str, image_size: Annotated[int, AT_LEAST_1] = 32, channels: Annotated[int, CHANNELS] = 3, **kwargs: Any) -> None:
        super().__init__(image_size=image_size, channels=channels, **kwargs)
        if channels not in (1, 3):
            raise ConfigError(f"dataset.channels={channels}: CIFAR is read as 3 (RGB) or 1 (grayscale) channels")
        archive, folder, self.train_files, self.test_files, self.label_key = self.LAYOUT[self.variant]
        self.num_classes = {b"labels": 10, b"fine_labels": 100}[self.label_key]
        self.cache_name = f"cifar{self.variant}"
        self.source = self._locate(Path(data_dir).expanduser().resolve(), archive, folder)

    def _locate(self, path: Path, archive: str, folder: str) -> Path:
        """The archive or batch folder at (or directly inside) `path`; a folder must hold every batch."""
        expected = [*self.train_files, *self.test_files]
        for candidate in (path, path / folder, path / archive):
            if candidate.is_file() and candidate.name.endswith(".tar.gz"):
                return candidate
            if candidate.is_dir() and any((candidate / name).is_file() for name in expected):
                missing = [name for name in expected if not (candidate / name).is_file()]
                if missing:
                    raise ConfigError(
                        f"dataset.data_dir={candidate}: missing {', '.join(missing)} (expected {', '.join(expected)}; get {archive} from {CIFAR_URL})"
                    )
                return candidate
        raise ConfigError(f"dataset.data_dir={path}: expected {archive} or its unpacked {folder}/ ({', '.join(expected)}) from {CIFAR_URL}")

    def cache_key(self) -> dict[str, Any]:
        files = [self.source] if self.source.is_file() else [self.source / n for n in (*self.train_files, *self.test_files)]
        return {"files": fingerprint(self.source.parent, files), "labels": self.label_key.decode()}

    def _read_batches(self) -> dict[str, bytes]:
        """{batch name: pickled bytes} from the folder or straight out of the .tar.gz."""
        names = [*self.train_files, *self.test_files]
        if self.source.is_dir():
            return {name: (self.source / name).read_bytes() for name in names}
        try:
            with tarfile.open(self.source, "r:gz") as tar:
                found = {Path(m.name).name: m for m in tar.getmembers() if m.isfile() and Path(m.name).name in names}
                missing = [name for name in names if name not in found]
                if missing:
                    raise ConfigError(f"dataset.data_dir={self.source}: the archive lacks {', '.join(missing)}; re-download it from {CIFAR_URL}")
                return {name: tar.extractfile(found[name]).read() for name in names}  # type: ignore[union-attr]
        except (tarfile.TarError, OSError, EOFError) as err:
            raise ConfigError(f"dataset.data_dir={self.source} is not a readable .tar.gz ({err}); re-download it from {CIFAR_URL}") from None

    def _split(self, batches: dict[str, bytes], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for name in names:
            batch = unpickle(batches[name], f"{self.source}/{name}")
            if self.label_key not in batch:
                raise ConfigError(f"{self.source}/{name}: no {self.label_key!r} entry (keys: {sorted(batch)}); is it the right CIFAR variant?")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # row-major CHW -> HWC
            labels.append(np.asarray(batch[self.label_key], dtype=np.int64))
        return np.concatenate(images), np.concatenate(labels)

    def _decode(self, images: np.ndarray, i: int) -> np.ndarray:
        image = images[i]
        if self.channels == 3 and self.load_size == 32:
            return image
        pil = Image.fromarray(image).convert("L" if self.channels == 1 else "RGB")
        if self.load_size != 32:
            pil = pil.resize((self.load_size, self.load_size), Image.BICUBIC)
        return np.asarray(pil, dtype=np.uint8).reshape(self.load_size, self.load_size, self.channels)

    def plan(self) -> dict[str, SplitPlan]:
        batches = self._read_batches()
        splits = {"train": self._split(batches, self.train_files), "test": self._split(batches, self.test_files)}
        return {name: SplitPlan(lambda i, images=images: self._decode(images, i), labels) for name, (images, labels) in splits.items()}


class CIFAR10DataModule(CIFARDataModule):
    """CIFAR-10: 50,000 training and 10,000 test images, 32 px RGB, 10 classes."""

    variant = 10


class CIFAR100DataModule(CIFARDataModule):
    """CIFAR-100: as CIFAR-10 with 100 fine classes (`coarse_labels=true`: the 20 superclasses)."""

    variant = 100

    def __init__(self, data_dir: str, coarse_labels: bool = False, **kwargs: Any) -> None:
        super().__init__(data_dir, **kwargs)
        if coarse_labels:
            self.label_key, self.num_classes = b"coarse_labels", 20
