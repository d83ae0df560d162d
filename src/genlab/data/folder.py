"""dataset=image_folder: every image file under a folder, recursively, decoded once (genlab.data.prepared).

Layout: `train/`, `val/`, `test/` subfolders when `train/` exists (a missing val or test uses the
other; with neither, train is split by hash; anything else beside them is not read); otherwise the
whole folder, split by a hash of each file's relative path (stable when files are added). Labels: the first level of subfolders (of the
folder, or of each split folder) when there are two or more and no loose images beside them
(`labels=auto`), always (`folders`) or never (`none`). Files whose ending PIL does not know are ignored.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genlab.data.disk import PreparedImageDataModule
from genlab.data.prepared import BadImage, SplitPlan, fingerprint
from genlab.errors import ConfigError
from genlab.ranges import AT_LEAST_1, CHANNELS, Range

log = logging.getLogger(__name__)

SPLIT_DIRS = ("train", "val", "test")
#: File endings PIL can read (.png, .jpg, .jpeg, .bmp, .webp, .tif, .gif, ...).
IMAGE_EXTENSIONS = frozenset(ext.lower() for ext in Image.registered_extensions())
MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class FolderLabels(str, enum.Enum):
    """Where image_folder labels come from."""

    auto = "auto"  # class folders when there are two or more, else unlabelled
    folders = "folders"  # the first level of subfolders, required
    none = "none"  # unlabelled


# -- decoding one file ---------------------------------------------------------------------------------
def to_mode(image: Image.Image, channels: int) -> Image.Image:
    """`image` with `channels` channels. 16-bit grayscale is scaled to 8 bits (PIL's own conversion
    clips it at 255); alpha is dropped, as torchvision's loaders do."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        image = Image.fromarray(np.round(np.asarray(image, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8))
    return image if image.mode == MODES[channels] else image.convert(MODES[channels])


def read_image(path: Path, channels: int, size: int, face_crop: int | None = None) -> tuple[np.ndarray, bool]:
    """(`size` x `size` x `channels` uint8, upscaled?) from an image file: EXIF orientation applied,
    optionally a centred `face_crop` square cut first, then the shorter side resized to `size`
    (bicubic, antialiased when shrinking) and the longer side centre-cropped. Raises BadImage."""
    try:
        with Image.open(path) as opened:
            image = to_mode(ImageOps.exif_transpose(opened), channels)
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise BadImage(f"{path} is not a readable image ({err})") from None
    if face_crop:
        w, h = image.size
        left, top = round((w - face_crop) / 2), round((h - face_crop) / 2)
        image = image.crop((left, top, left + face_crop, top + face_crop))
    w, h = image.size
    upscaled = min(w, h) < size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
        left, top = (rw - size) // 2, (rh - size) // 2
        image = image.resize((rw, rh), Image.BICUBIC).crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.uint8).reshape(size, size, channels), upscaled


def hash_fraction(relative_path: str) -> float:
    """A number in [0, 1) fixed by the file's relative path alone: the split of a file never moves."""
    return int.from_bytes(hashlib.sha1(relative_path.encode()).digest()[:8], "big") / 2**64


def scan(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, sorted; hidden files and folders are skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(found)


# -- the datamodule ------------------------------------------------------------------------------------
class ImageFolderDataModule(PreparedImageDataModule):
    """Any folder of images (recursively, any format PIL reads), optionally labelled by class folders."""

    cache_name = "image_folder"

    def __init__(
        self,
        data_dir: str,
        labels: FolderLabels | str = FolderLabels.auto,
        val_fraction: Annotated[float, Range(gt=0, lt=1)] = 0.1,
        image_size: Annotated[int, AT_LEAST_1] = 64,
        channels: Annotated[int, CHANNELS] = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_size=image_size, channels=channels, **kwargs)
        self.root = Path(data_dir).expanduser().resolve()
        self.labels_from, self.val_fraction = FolderLabels(labels), val_fraction
        if channels not in MODES:
            raise ConfigError(f"dataset.channels={channels}: image folders are read as 1 (grayscale), 3 (RGB) or 4 (RGBA) channels")
        if not 0 < val_fraction < 1:
            raise ConfigError(f"dataset.val_fraction={val_fraction}: expected a fraction in (0, 1)")
        if not self.root.is_dir():
            raise ConfigError(
                f"dataset.data_dir={self.root} does not exist; expected a folder of images (optionally in class subfolders, or train/ val/ test/)"
            )
        self.split_layout = (self.root / "train").is_dir()
        self.files = self._split_files()
        self.classes = self._classes()
        self.num_classes = len(self.classes)
        self.upscaled: list[Path] = []

    def _split_files(self) -> dict[str, list[Path]]:
        """{split: files}; aliases for the splits that reuse another's files."""
        if not self.split_layout:
            return self._hash_split(self._images(self.root))
        present = {s: self._images(self.root / s) for s in SPLIT_DIRS if (self.root / s).is_dir()}
        if "val" not in present and "test" not in present:
            return self._hash_split(present["train"])
        if "val" not in present or "test" not in present:
            missing, given = ("val", "test") if "val" not in present else ("test", "val")
            self.split_aliases = {missing: given}
        return present

    def _images(self, folder: Path) -> list[Path]:
        files = scan(folder)
        if not files:
            raise ConfigError(
                f"dataset.data_dir: {folder} holds no image files (looked recursively for .png, .jpg, .jpeg, .webp, .bmp, .tif, ...: any format PIL reads)"
            )
        return files

    def _hash_split(self, files: list[Path]) -> dict[str, list[Path]]:
        """train and val by a hash of each file's path; test is val."""
        held_out = [hash_fraction(p.relative_to(self.root).as_posix()) < self.val_fraction for p in files]
        splits = {"train": [p for p, h in zip(files, held_out) if not h], "val": [p for p, h in zip(files, held_out) if h]}
        for name, chosen in splits.items():
            if not chosen:
                raise ConfigError(
                    f"dataset.val_fraction={self.val_fraction}: none of the {len(files)} images under {self.root} falls in the {name} split; "
                    f"change it or add train/ and val/ folders"
                )
        self.split_aliases = {"test": "val"}
        return splits

    def _class_dir(self, path: Path) -> str | None:
        """The first-level subfolder of `path` below the root or its split folder (None: a loose file)."""
        parts = path.relative_to(self.root).parts[1 if self.split_layout else 0 :]
        return parts[0] if len(parts) > 1 else None

    def _classes(self) -> list[str]:
        if self.labels_from is FolderLabels.none:
            return []
        all_files = [p for files in self.files.values() for p in files]
        dirs = {self._class_dir(p) for p in all_files}
        loose = next((p for p in all_files if self._class_dir(p) is None), None)
        classes = sorted(d for d in dirs if d is not None)
        if self.labels_from is FolderLabels.auto:
            return classes if len(classes) >= 2 and loose is None else []
        if loose is not None:
            raise ConfigError(f"dataset.labels=folders: {loose} is not inside a class folder; move it into one, or set dataset.labels=none")
        if len(classes) < 2:
            raise ConfigError(f"dataset.labels=folders: {self.root} has {len(classes)} class folder(s); expected two or more subfolders of images")
        return classes

    def unlabelled_hint(self) -> str:
        return f"dataset.data_dir={self.root} has no labels (labels come from two or more first-level subfolders, one per class)"

    def cache_key(self) -> dict[str, Any]:
        files = {name: fingerprint(self.root, paths) for name, paths in self.files.items()}
        return {"root": str(self.root), "files": files, "classes": self.classes, "resize": "bicubic-shorter-side-centre-crop"}

    def _decode(self, files: list[Path], i: int) -> np.ndarray:
        image, upscaled = read_image(files[i], self.channels, self.load_size)
        if upscaled:
            self.upscaled.append(files[i])
        return image

    def plan(self) -> dict[str, SplitPlan]:
        index = {name: i for i, name in enumerate(self.classes)}
        return {
            name: SplitPlan(partial(self._decode, files), [index[self._class_dir(p)] if index else 0 for p in files], [str(p) for p in files])
            for name, files in self.files.items()
        }

    def prepare_data(self) -> None:
        self.upscaled = []
        super().prepare_data()
        if self.upscaled:
            log.warning(
                "dataset.image_size: %d images smaller than %d px were upscaled (bicubic), e.g. %s",
                len(self.upscaled),
                self.load_size,
                self.upscaled[0],
            )
