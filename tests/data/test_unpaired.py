"""Unpaired two-domain data: the official folder layout, and the embedded textures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import TexturesDataModule, UnpairedFolderDataModule
from genlab.data.unpaired import UnpairedDataset, read_images
from genlab.errors import ConfigError
from tests.conftest import write_unpaired_fixture


def test_folder_batches_are_pairs_of_random_crops(unpaired_dir: Path):
    dm = UnpairedFolderDataModule(str(unpaired_dir), load_size=36, crop_size=32, channels=3, batch_size=4)
    torch.manual_seed(0)
    images_a, images_b = next(iter(dm.train_dataloader()))
    assert images_a.shape == images_b.shape == (4, 3, 32, 32)
    assert images_a.dtype == torch.float32 and -1 <= images_a.min() and images_a.max() <= 1
    assert len(dm.dataset("train")) == 6  # max(|A|, |B|)
    # Evaluation: centred crops, no flips: the same images every time.
    first = next(iter(dm.val_dataloader()))[0]
    assert torch.equal(first, next(iter(dm.val_dataloader()))[0])
    assert torch.equal(dm.images("test", "A", 2), first[:2])


def test_ranks_draw_their_own_pairings_crops_and_flips_and_leave_the_global_rng_alone(unpaired_dir: Path):
    """Under DDP every rank has the same global RNG state (it keeps GAN noise in lockstep); the
    training pairs must still differ between ranks, and be reproducible per rank."""
    dm = UnpairedFolderDataModule(str(unpaired_dir), load_size=64, crop_size=16, channels=3)
    source_a, source_b = dm.source("train", "A"), dm.source("train", "B")

    def items(rank: int) -> list[torch.Tensor]:
        dataset = UnpairedDataset(source_a, source_b, crop_size=16, train=True, seed=0, rank=rank)
        return [torch.cat(dataset[i]) for i in range(6)]

    state = torch.get_rng_state()
    rank0, rank1 = items(0), items(1)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(rank0, items(0)))
    assert not any(torch.equal(x, y) for x, y in zip(rank0, rank1))


def test_loader_workers_draw_different_crops(tmp_path: Path):
    """Two copies of one image: whatever each worker loads, only its own random stream tells them apart."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    for folder in ("trainA", "trainB", "testA", "testB"):
        (tmp_path / folder).mkdir()
        for name in ("a.png", "b.png"):
            image.save(tmp_path / folder / name)
    dm = UnpairedFolderDataModule(str(tmp_path), load_size=64, crop_size=16, channels=3, batch_size=1, num_workers=2)
    (a0, b0), (a1, b1) = list(dm.train_dataloader())  # batch i comes from worker i
    assert not torch.equal(a0, a1) and not torch.equal(b0, b1)


def test_grayscale_folders_and_resize_only(unpaired_dir: Path):
    dm = UnpairedFolderDataModule(str(unpaired_dir), load_size=16, crop_size=16, channels=1, batch_size=2)
    images_a, _ = next(iter(dm.train_dataloader()))
    assert images_a.shape == (2, 1, 16, 16)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda root: shutil.rmtree(root / "trainB"), "trainB does not exist"),
        (lambda root: [p.unlink() for p in (root / "testA").iterdir()], "testA holds no images"),
        (lambda root: (root / "trainA" / "notes.txt").write_text("hi"), "notes.txt is not an image"),
        (lambda root: (root / "testB" / "broken.png").write_bytes(b"not a png"), "broken.png is not a readable image"),
    ],
)
def test_bad_folders_fail_at_construction_naming_the_path(tmp_path: Path, damage, message):
    root = write_unpaired_fixture(tmp_path / "data", n_train=2, n_test=1, size=8)
    damage(root)
    with pytest.raises(ConfigError, match=message):
        UnpairedFolderDataModule(str(root), load_size=8, crop_size=8)


def test_missing_data_dir_and_bad_sizes(tmp_path: Path):
    with pytest.raises(ConfigError, match="dataset.data_dir=.*nowhere does not exist"):
        UnpairedFolderDataModule(str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="crop_size=64 is larger than dataset.load_size=32"):
        UnpairedFolderDataModule(str(tmp_path), load_size=32, crop_size=64)


def test_hidden_files_are_ignored(tmp_path: Path):
    root = write_unpaired_fixture(tmp_path / "data", n_train=2, n_test=1, size=8)
    (root / "trainA" / ".DS_Store").write_bytes(b"\0")
    assert len(UnpairedFolderDataModule(str(root), load_size=8, crop_size=8).sources[("train", "A")]) == 2


def test_textures_are_grass_and_gravel_crops_with_disjoint_train_and_test_rows():
    dm = TexturesDataModule(crop_size=32, train_crops=64, test_crops=16, batch_size=8)
    (_, train_stop), (test_start, _) = dm.rows["train"], dm.rows["test"]
    assert train_stop <= test_start  # no pixel row is shared
    for (split, domain), corners in dm.corners.items():
        start, stop = dm.rows[split]
        crops = dm.sources[(split, domain)].images
        for crop, (top, left) in zip(crops, corners):
            assert start <= top and top + 32 <= stop
            assert torch.equal(crop, dm.photos[domain][:, top : top + 32, left : left + 32])
    images_a, images_b = next(iter(dm.train_dataloader()))
    assert images_a.shape == images_b.shape == (8, 1, 32, 32)
    # Same seed, same crops.
    assert torch.equal(TexturesDataModule(train_crops=64, test_crops=16).sources[("test", "B")].images, dm.sources[("test", "B")].images)


def test_texture_channels_can_be_repeated_to_rgb():
    dm = TexturesDataModule(train_crops=8, test_crops=4, channels=3, batch_size=4)
    images_a, _ = next(iter(dm.train_dataloader()))
    assert images_a.shape == (4, 3, 32, 32)
    assert torch.equal(images_a[:, 0], images_a[:, 2])


def test_read_images_from_a_folder_or_an_npz(tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 24, 3), 50 * i, np.uint8)).save(folder / f"{i}.png")
    images = read_images(folder, channels=1, size=16)
    assert images.shape == (3, 1, 16, 16) and images.dtype == torch.uint8
    np.savez(tmp_path / "x.npz", images=np.zeros((5, 8, 8, 1), np.uint8))
    assert read_images(tmp_path / "x.npz", channels=3).shape == (5, 3, 8, 8)
    with pytest.raises(ConfigError, match="expected a folder of images or an .npz"):
        read_images(tmp_path / "missing.npz", channels=1)
