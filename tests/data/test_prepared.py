"""Decode once: the prepared cache is reused without decoding, rebuilt when a file or setting changes,
never used half-written, memory-mapped, and serves device-resident batches; genlab-prepare builds it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genlab.data.folder as folder_module
from genlab.data import prepared
from genlab.data.device import DeviceBatches
from genlab.data.folder import ImageFolderDataModule
from genlab.prepare import prepare_dataset
from tests.data.fixtures import mnist_t10k, photo_crops, write_class_folders


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    images, labels = photo_crops(40, 40, 48)
    write_class_folders(tmp_path / "photos", images, labels)
    return tmp_path / "photos"


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the folder reader decodes, in order (the real decoder runs)."""
    seen: list[Path] = []
    real = folder_module.read_image

    def counting(path, *args, **kwargs):
        seen.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(folder_module, "read_image", counting)
    return seen


def make(root: Path, cache: Path, **kwargs) -> ImageFolderDataModule:
    dm = ImageFolderDataModule(str(root), image_size=32, cache_dir=str(cache), val_fraction=0.25, **kwargs)
    dm.setup()
    return dm


def test_a_second_run_maps_the_cache_without_decoding_a_file(photos, tmp_path, decodes):
    first = make(photos, tmp_path / "cache")
    assert len(decodes) == 40
    second = make(photos, tmp_path / "cache")
    assert len(decodes) == 40  # nothing decoded again
    for split in ("train", "val", "test"):
        assert torch.equal(first.splits[split][0], second.splits[split][0]) and torch.equal(first.splits[split][1], second.splits[split][1])
    arrays = prepared.load(second.entry())
    assert all(isinstance(images, np.memmap) and images.dtype == np.uint8 for images, _ in arrays.values())
    assert arrays["train"][0].shape[1:] == (32, 32, 3)  # N x H x W x C


def test_a_changed_file_or_setting_rebuilds_the_cache(photos, tmp_path, decodes):
    before = make(photos, tmp_path / "cache")
    old_entry, changed = before.entry(), before.files["train"][0]
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(changed)
    after = make(photos, tmp_path / "cache")
    assert after.entry() != old_entry and len(decodes) == 80
    assert int(after.splits["train"][0][before.files["train"].index(changed)].max()) == 0  # the new pixels
    make(photos, tmp_path / "cache", load_size=40, crop="random")  # another preprocessing: another entry
    assert len(decodes) == 120
    assert len([p for p in (tmp_path / "cache" / "prepared").iterdir() if not p.name.startswith(".")]) == 3  # (+ lock files)


def test_a_prepare_killed_midway_leaves_no_entry_and_the_next_run_builds_a_complete_one(photos, tmp_path):
    # A real process, killed with SIGKILL while decoding its 10th file.
    script = textwrap.dedent(
        f"""
        import os, signal
        import genlab.data.folder as f
        real, count = f.read_image, [0]
        def dying(*args, **kwargs):
            count[0] += 1
            if count[0] == 10:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        f.read_image = dying
        f.ImageFolderDataModule({str(photos)!r}, image_size=32, cache_dir={str(tmp_path / "cache")!r}, val_fraction=0.25).prepare_data()
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == -9, result.stderr[-2000:]
    dm = ImageFolderDataModule(str(photos), image_size=32, cache_dir=str(tmp_path / "cache"), val_fraction=0.25)
    assert not prepared.is_complete(dm.entry())
    left = [p.name for p in (tmp_path / "cache" / "prepared").iterdir() if not p.name.endswith(".lock")]
    assert len(left) == 1 and left[0].startswith(".") and left[0].endswith(".tmp")  # the killed process's temporary folder
    dm.setup()
    assert prepared.is_complete(dm.entry()) and len(dm.splits["train"][0]) + len(dm.splits["val"][0]) == 40


@pytest.mark.parametrize("augment", [{}, {"crop": "random", "flip": True}], ids=["centre", "random-crop-flip"])
def test_device_resident_batches_are_drawn_from_the_prepared_cache(photos, tmp_path, augment):
    dm = ImageFolderDataModule(str(photos), image_size=32, cache_dir=str(tmp_path), val_fraction=0.25, device_resident=True, batch_size=8, **augment)
    dm.setup()
    batches = dm.train_dataloader()
    assert isinstance(batches, DeviceBatches)
    served = torch.cat([images for images, _ in batches])
    assert served.shape == (len(batches) * 8, 3, 32, 32) and served.is_contiguous()
    if not augment:  # each batch is a set of training images, exactly
        train = dm.splits["train"][0].float() / 127.5 - 1
        assert all(any(torch.equal(image, t) for t in train) for image in served)


def test_genlab_prepare_builds_the_entry_genlab_train_then_maps(compose_cfg, tmp_path, cache_dir, decodes):
    images, labels = mnist_t10k(30)
    write_class_folders(tmp_path / "digits", images, labels)
    args = (
        "dataset=image_folder",
        f"dataset.data_dir={tmp_path / 'digits'}",
        "dataset.channels=1",
        "dataset.image_size=28",
        "dataset.val_fraction=0.3",
    )
    summary = prepare_dataset(compose_cfg(*args, config_name="prepare"))
    assert summary.startswith(f"genlab: prepared {cache_dir}") and "images of 28x28x1" in summary and len(decodes) == 30
    again = prepare_dataset(compose_cfg(*args, "dataset.batch_size=7", "dataset.device_resident=true", config_name="prepare"))
    assert again.startswith("genlab: already prepared") and len(decodes) == 30  # loader settings are not part of the key
    train_cfg = compose_cfg(*args)
    dm = folder_module.ImageFolderDataModule(**{k: v for k, v in train_cfg.dataset.items() if k != "_target_"})
    dm.setup()
    assert len(decodes) == 30 and os.path.commonpath([dm.entry(), cache_dir]) == str(cache_dir)


@pytest.mark.slow
def test_two_ddp_ranks_train_on_one_entry_decoded_once(cli, tmp_path):
    images, labels = mnist_t10k(64)
    write_class_folders(tmp_path / "digits", images, labels)
    cache = tmp_path / "ddp_cache"
    result = cli(
        "train",
        "model=vae",
        "model.nll_samples=2",
        "trainer=ddp_cpu",
        "dataset=image_folder",
        f"dataset.data_dir={tmp_path / 'digits'}",
        "dataset.image_size=16",
        "dataset.channels=1",
        "dataset.batch_size=8",
        "debug=limit",
        "trainer.max_epochs=1",
        "~callbacks.sample_metrics",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"GENLAB_CACHE_DIR": str(cache)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Rank 0 prepared (Lightning's prepare_data), rank 1 mapped it: one build's log line and progress bar in both ranks' output.
    assert result.stdout.count("decoding the dataset once") == 1 and result.stderr.count("genlab: preparing train") == 1
    entries = [p for p in (cache / "prepared").iterdir() if not p.name.endswith(".lock")]
    assert len(entries) == 1 and prepared.is_complete(entries[0])


def test_a_missing_folder_stops_genlab_prepare_with_one_sentence(cli, tmp_path):
    result = cli("prepare", "dataset=image_folder", f"dataset.data_dir={tmp_path / 'nope'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"genlab: error: dataset.data_dir={tmp_path / 'nope'} does not exist; expected a folder of images (optionally in class subfolders, or train/ val/ test/)"
    )


@pytest.mark.slow
def test_two_processes_preparing_one_entry_at_once_decode_it_once(photos, tmp_path):
    # Two real processes that start preparing together (the jobs of a parallel sweep), each decoding
    # slowly enough to overlap: one builds, the other waits on the lock and maps the result.
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        import genlab.data.folder as f
        real = f.read_image
        f.read_image = lambda *args, **kwargs: (time.sleep(0.02), real(*args, **kwargs))[1]
        Path({str(tmp_path)!r}, "ready" + sys.argv[1]).touch()
        while not all(Path({str(tmp_path)!r}, "ready" + i).exists() for i in "01"):
            time.sleep(0.01)
        f.ImageFolderDataModule({str(photos)!r}, image_size=32, cache_dir={str(tmp_path / "cache")!r}, val_fraction=0.25).setup()
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert sum(err.count("genlab: preparing train") for err in errs) == 1
    entry = ImageFolderDataModule(str(photos), image_size=32, cache_dir=str(tmp_path / "cache"), val_fraction=0.25).entry()
    assert [p.name for p in (tmp_path / "cache" / "prepared").iterdir() if not p.name.endswith(".lock")] == [entry.name]
