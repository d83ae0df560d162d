"""dataset=celeba: CelebA's aligned faces (`img_align_celeba/`, 202,599 JPEGs of 178 x 218 px) with the
official split from `list_eval_partition.txt` (0 train, 1 val, 2 test), decoded once.

Crop: the centred 108 x 108 square (left 35, top 55), then resized to `image_size` (64). That is the
crop of the DCGAN reference code (carpedm20/DCGAN-tensorflow, `--input_height 108 --crop`), which
the DCGAN / WGAN-GP CelebA 64 px results follow: it keeps the face from eyebrows to chin and drops
most of the background and hair, so 64 px spend their pixels on the face. `face_crop=148` is the
looser crop of PyTorch-VAE and BEGAN-style code; `face_crop=null` resizes the whole image
(shorter side) and centre-crops, as the torchvision DCGAN tutorial does.

Files are looked for in `data_dir` and in the Google Drive layout's `Img/`, `Eval/`, `Anno/` folders.
`attribute=Smiling` (any column of `list_attr_celeba.txt`) labels each image 1 where it is +1, else 0.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from genlab.data.disk import PreparedImageDataModule
from genlab.data.folder import read_image
from genlab.data.prepared import SplitPlan, fingerprint
from genlab.errors import ConfigError
from genlab.ranges import AT_LEAST_1, CHANNELS

CELEBA_URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
PARTITIONS = {"train": 0, "val": 1, "test": 2}


def find(root: Path, name: str, *subdirs: str) -> Path | None:
    """`root/name` or `root/<subdir>/name`, whichever exists first."""
    for folder in (root, *(root / s for s in subdirs)):
        if (folder / name).exists():
            return folder / name
    return None


def read_partition(path: Path) -> dict[str, int]:
    """{file name: partition} from list_eval_partition.txt ("000001.jpg 0" per line)."""
    partition = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise ConfigError(f"{path}, line {number}: expected '<image file> <0|1|2>', got {line.strip()!r}")
        partition[fields[0]] = int(fields[1])
    return partition


def read_attribute(path: Path, attribute: str) -> dict[str, int]:
    """{file name: 1 if `attribute` is +1 else 0} from list_attr_celeba.txt (count, names, rows of +-1)."""
    lines = path.read_text().splitlines()
    names = lines[1].split() if len(lines) > 1 else []
    if attribute not in names:
        raise ConfigError(f"dataset.attribute={attribute}: not a column of {path} (columns: {', '.join(names)})")
    column = names.index(attribute) + 1  # rows start with the file name
    return {fields[0]: int(fields[column] == "1") for fields in map(str.split, lines[2:]) if fields}


class CelebADataModule(PreparedImageDataModule):
    """CelebA aligned faces, official train/val/test partition, optionally one attribute as a binary label."""

    cache_name = "celeba"

    def __init__(
        self,
        data_dir: str,
        attribute: str | None = None,
        face_crop: Annotated[int | None, AT_LEAST_1] = 108,
        image_size: Annotated[int, AT_LEAST_1] = 64,
        channels: Annotated[int, CHANNELS] = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_size=image_size, channels=channels, **kwargs)
        self.root = Path(data_dir).expanduser().resolve()
        if not self.root.is_dir():
            raise ConfigError(
                f"dataset.data_dir={self.root} does not exist; expected CelebA's img_align_celeba/ and list_eval_partition.txt from {CELEBA_URL}"
            )
        images = find(self.root, "img_align_celeba", "Img")
        if images is None or not images.is_dir():
            raise ConfigError(f"dataset.data_dir={self.root}: no img_align_celeba/ folder (the aligned-and-cropped JPEGs from {CELEBA_URL})")
        partition_file = find(self.root, "list_eval_partition.txt", "Eval")
        if partition_file is None:
            raise ConfigError(f"dataset.data_dir={self.root}: no list_eval_partition.txt (CelebA's official train/val/test split, from {CELEBA_URL})")
        self.images_dir, self.face_crop, self.attribute = images, face_crop, attribute
        self.meta_files = [partition_file]
        partition = read_partition(partition_file)
        labels = {}
        if attribute:
            attr_file = find(self.root, "list_attr_celeba.txt", "Anno")
            if attr_file is None:
                raise ConfigError(f"dataset.attribute={attribute}: no list_attr_celeba.txt in {self.root} or {self.root / 'Anno'}")
            labels, self.num_classes = read_attribute(attr_file, attribute), 2
            self.meta_files.append(attr_file)
        self.files: dict[str, list[Path]] = {}
        self.labels: dict[str, list[int]] = {}
        for split, number in PARTITIONS.items():
            names = sorted(name for name, p in partition.items() if p == number)
            if not names:
                raise ConfigError(f"{partition_file}: no image in partition {number} ({split})")
            missing = next((n for n in names if not (images / n).is_file()), None)
            if missing is not None and not self.skip_bad_files:
                raise ConfigError(
                    f"{partition_file} lists {images / missing}, which does not exist; set dataset.skip_bad_files=true to skip missing files"
                )
            names = [n for n in names if (images / n).is_file()]
            if attribute and (unlabelled := next((n for n in names if n not in labels), None)):
                raise ConfigError(f"dataset.attribute={attribute}: {unlabelled} has no row in {self.meta_files[-1]}")
            self.files[split] = [images / n for n in names]
            self.labels[split] = [labels.get(n, 0) for n in names]

    def unlabelled_hint(self) -> str:
        return "dataset=celeba has no labels unless dataset.attribute names a column of list_attr_celeba.txt (e.g. Smiling)"

    def cache_key(self) -> dict[str, Any]:
        files = {split: fingerprint(self.root, paths) for split, paths in self.files.items()}
        meta = fingerprint(self.root, self.meta_files)
        return {"files": files, "meta": meta, "attribute": self.attribute, "face_crop": self.face_crop, "resize": "bicubic"}

    def _decode(self, files: list[Path], i: int) -> np.ndarray:
        return read_image(files[i], self.channels, self.load_size, self.face_crop)[0]

    def plan(self) -> dict[str, SplitPlan]:
        return {split: SplitPlan(partial(self._decode, files), self.labels[split], [str(p) for p in files]) for split, files in self.files.items()}
