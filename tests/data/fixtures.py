"""Real dataset layouts written from images on hand: MNIST t10k (../shared/data/mnist, read with genlab's
IDX reader) and scikit-image's photographs. Each writer lays files out as the real download does."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from genlab.data.mnist import read_idx

SHARED_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")


def mnist_t10k(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n MNIST t10k digits (uint8 n x 28 x 28) and labels, read by genlab's IDX reader."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/data/mnist is not available")
    return read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")[:n], read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz")[:n].astype(np.int64)


def photo_crops(n: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n crops (uint8 n x height x width x 3) of scikit-image's colour photographs; label = which photo."""
    import skimage.data

    photos = [getattr(skimage.data, name)() for name in PHOTOS]
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        label = i % len(photos)
        photo = photos[label]
        scale = max(1, min(photo.shape[0] // height, photo.shape[1] // width) // 2)  # a downscaled view: more than a few pixels' detail
        small = np.asarray(Image.fromarray(photo).resize((photo.shape[1] // scale, photo.shape[0] // scale), Image.BILINEAR))
        top, left = rng.integers(0, small.shape[0] - height + 1), rng.integers(0, small.shape[1] - width + 1)
        images.append(small[top : top + height, left : left + width])
        labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def write_class_folders(
    root: Path, images: np.ndarray, labels: np.ndarray, ext: str = "png", names: list[str] | None = None, start: int = 0
) -> list[Path]:
    """root/<class name>/<start + index>.<ext>, one folder per label (ImageFolder's layout); returns the files in order."""
    paths = []
    for i, (image, label) in enumerate(zip(images, labels), start):
        folder = root / (names[label] if names else f"class_{label}")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:05d}.{ext}"
        Image.fromarray(image).save(path, **({"quality": 95} if ext == "jpg" else {}))
        paths.append(path)
    return paths


# -- CIFAR: the python version's pickled dicts --------------------------------------------------------
def cifar_batch(images: np.ndarray, labels: np.ndarray, variant: int, name: str) -> bytes:
    """A pickled batch in the documented layout: b'data' uint8 N x 3072 (row-major CHW), labels as lists."""
    batch = {b"batch_label": name.encode(), b"data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072).copy()}
    batch[b"filenames"] = [f"{name}_{i}.png".encode() for i in range(len(images))]
    if variant == 10:
        batch[b"labels"] = labels.tolist()
    else:
        batch[b"fine_labels"], batch[b"coarse_labels"] = labels.tolist(), (labels // 5).tolist()
    return pickle.dumps(batch, protocol=2)


def cifar_files(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], variant: int) -> dict[str, bytes]:
    """{file name: bytes} of an unpacked CIFAR-10 (5 train batches) or CIFAR-100 folder."""
    if variant == 10:
        chunks = np.array_split(np.arange(len(train[0])), 5)
        files = {f"data_batch_{i + 1}": cifar_batch(train[0][c], train[1][c], 10, f"training batch {i + 1} of 5") for i, c in enumerate(chunks)}
        files["test_batch"] = cifar_batch(*test, 10, "testing batch 1 of 1")
        files["batches.meta"] = pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072}, protocol=2)
        return files
    files = {"train": cifar_batch(*train, 100, "training"), "test": cifar_batch(*test, 100, "testing")}
    files["meta"] = pickle.dumps({b"fine_label_names": [f"f{i}".encode() for i in range(100)], b"coarse_label_names": []}, protocol=2)
    return files


def write_cifar(root: Path, files: dict[str, bytes], variant: int, archive: bool) -> Path:
    """The unpacked folder (cifar-10-batches-py/) under root, or the .tar.gz as downloaded; returns its path."""
    folder = "cifar-10-batches-py" if variant == 10 else "cifar-100-python"
    root.mkdir(parents=True, exist_ok=True)
    if not archive:
        (root / folder).mkdir()
        for name, data in files.items():
            (root / folder / name).write_bytes(data)
        return root / folder
    path = root / ("cifar-10-python.tar.gz" if variant == 10 else "cifar-100-python.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# -- CelebA -----------------------------------------------------------------------------------------
ATTRIBUTES = ["5_o_Clock_Shadow", "Bald", "Smiling", "Young"]


def write_celeba(root: Path, n: int = 12, ext: str = "jpg") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """img_align_celeba/000001.jpg ... (178 x 218 photo crops), list_eval_partition.txt (cycling
    train/train/val/test), list_attr_celeba.txt (+-1 columns; Smiling = odd index). Returns the
    images, partitions and Smiling labels."""
    images, _ = photo_crops(n, 218, 178, seed=1)
    partition = np.array([0, 0, 1, 2] * n)[:n]
    smiling = np.arange(n) % 2
    (root / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.{ext}" for i in range(n)]
    for name, image in zip(names, images):
        Image.fromarray(image).save(root / "img_align_celeba" / name, **({"quality": 95} if ext == "jpg" else {}))
    (root / "list_eval_partition.txt").write_text("".join(f"{name} {p}\n" for name, p in zip(names, partition)))
    rows = [f"{name} " + " ".join(("1" if s else "-1") if a == "Smiling" else "-1" for a in ATTRIBUTES) for name, s in zip(names, smiling)]
    (root / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(ATTRIBUTES)}\n" + "\n".join(rows) + "\n")
    return images, partition, smiling


class RecordBatches(pl.Callback):
    """Appends every training batch's image digests, as JSON lines, to `<path>.<rank>` (for CLI runs:
    `+callbacks.record._target_=tests.data.fixtures.RecordBatches +callbacks.record.path=P`)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        images = ((batch[0].detach().cpu() + 1) * 127.5).round().to(torch.uint8)
        digests = [hashlib.sha1(image.numpy().tobytes()).hexdigest()[:16] for image in images]
        with open(f"{self.path}.{trainer.global_rank}", "a") as f:
            f.write(json.dumps({"epoch": trainer.current_epoch, "batch": batch_idx, "items": digests}) + "\n")
