"""Every reader rejects bad input when the DataModule is built, before training, naming the path.

Missing paths, empty folders, non-image files and undecodable IDX files are covered next to each
reader (test_mnist.py, test_unpaired.py); here: truncated images, and mixed channel counts, which
are converted (not rejected) to `dataset.channels`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.data import TexturesDataModule, UnpairedFolderDataModule
from genlab.errors import ConfigError
from tests.conftest import write_unpaired_fixture


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_a_truncated_image_fails_at_construction_naming_the_file(tmp_path: Path, ext):
    root = write_unpaired_fixture(tmp_path / "data", n_train=2, n_test=1, size=32)
    good = tmp_path / f"good.{ext}"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(good)
    data = good.read_bytes()
    (root / "trainB" / f"cut.{ext}").write_bytes(data[: len(data) // 2])  # a valid header, half the pixels
    with pytest.raises(ConfigError, match=f"cut.{ext} is not a readable image"):
        UnpairedFolderDataModule(str(root), load_size=32, crop_size=32)


@pytest.mark.parametrize("channels", [1, 3])
def test_mixed_channel_counts_in_a_folder_are_converted_to_dataset_channels(tmp_path: Path, channels):
    root = write_unpaired_fixture(tmp_path / "data", n_train=2, n_test=1, size=16)
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    Image.fromarray(pixels[..., 0], "L").save(root / "trainA" / "gray.png")
    Image.fromarray(pixels, "RGBA").save(root / "trainA" / "alpha.png")
    Image.fromarray(pixels[..., :3]).convert("P").save(root / "trainA" / "palette.png")
    dm = UnpairedFolderDataModule(str(root), load_size=16, crop_size=16, channels=channels)
    source = dm.sources[("train", "A")]
    assert {tuple(source.load(i).shape) for i in range(len(source))} == {(channels, 16, 16)}


def test_texture_settings_the_photographs_cannot_serve_are_rejected():
    with pytest.raises(ConfigError, match="dataset.channels=2"):
        TexturesDataModule(channels=2)
    with pytest.raises(ConfigError, match="dataset.crop_size=400"):
        TexturesDataModule(crop_size=400)
