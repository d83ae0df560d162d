"""dataset=cifar10 / cifar100: the official python batches (pickled dicts) as a folder and as the .tar.gz,
written from scikit-image photographs; read back exactly with labels and the official split."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.data import CIFAR10DataModule, CIFAR100DataModule
from genlab.errors import ConfigError, instantiate
from genlab.train import build_model, train
from tests.data.fixtures import cifar_files, photo_crops, write_cifar

N_TRAIN, N_TEST = 50, 20


@pytest.fixture(scope="module")
def photos() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    images, labels = photo_crops(N_TRAIN + N_TEST, 32, 32, seed=3)
    labels = (labels * 17 + np.arange(len(labels))) % 100  # spread over 100 classes (CIFAR-10 takes them mod 10)
    return {"train": (images[:N_TRAIN], labels[:N_TRAIN]), "test": (images[N_TRAIN:], labels[N_TRAIN:])}


def nhwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("archive", [False, True], ids=["folder", "tar.gz"])
def test_cifar10_round_trips_exactly_with_labels_and_the_official_split(tmp_path, photos, archive):
    train_set, test_set = ((x, y % 10) for x, y in photos.values())
    path = write_cifar(tmp_path / "cifar", cifar_files(train_set, test_set, 10), 10, archive)
    for data_dir in (path, tmp_path / "cifar"):  # the archive / unpacked folder itself, or the folder holding it
        dm = CIFAR10DataModule(str(data_dir), cache_dir=str(tmp_path / "cache"))
        dm.setup()
        assert dm.num_classes == 10
        np.testing.assert_array_equal(nhwc(dm.splits["train"][0]), train_set[0])
        np.testing.assert_array_equal(dm.splits["train"][1].numpy(), train_set[1])
        np.testing.assert_array_equal(nhwc(dm.splits["test"][0]), test_set[0])
        assert torch.equal(dm.splits["val"][0], dm.splits["test"][0])  # no official validation set


@pytest.mark.parametrize("coarse", [False, True])
def test_cifar100_keeps_fine_labels_or_the_coarse_superclasses(tmp_path, photos, coarse):
    path = write_cifar(tmp_path, cifar_files(photos["train"], photos["test"], 100), 100, archive=True)
    dm = CIFAR100DataModule(str(path), coarse_labels=coarse, cache_dir=str(tmp_path / "cache"))
    dm.setup()
    expected = photos["test"][1] // 5 if coarse else photos["test"][1]
    assert dm.num_classes == (20 if coarse else 100)
    np.testing.assert_array_equal(dm.splits["test"][1].numpy(), expected)
    np.testing.assert_array_equal(nhwc(dm.splits["test"][0]), photos["test"][0])


def test_a_folder_missing_a_batch_file_is_refused_naming_it(tmp_path, photos):
    files = cifar_files(photos["train"], photos["test"], 10)
    del files["data_batch_3"]
    folder = write_cifar(tmp_path, files, 10, archive=False)
    with pytest.raises(ConfigError, match=r"missing data_batch_3 \(expected data_batch_1, .*cifar-10-python.tar.gz"):
        CIFAR10DataModule(str(folder), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="expected cifar-10-python.tar.gz or its unpacked cifar-10-batches-py/"):
        CIFAR10DataModule(str(tmp_path / "nowhere"), cache_dir=str(tmp_path / "cache"))


def test_an_archive_missing_a_batch_is_refused_before_training(tmp_path, photos):
    files = cifar_files(photos["train"], photos["test"], 10)
    del files["test_batch"]
    path = write_cifar(tmp_path, files, 10, archive=True)
    with pytest.raises(ConfigError, match="the archive lacks test_batch"):
        CIFAR10DataModule(str(path), cache_dir=str(tmp_path / "cache")).setup()


def test_a_batch_that_would_run_code_when_unpickled_is_refused(tmp_path, photos):
    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    files = cifar_files(photos["train"], photos["test"], 10)
    files["data_batch_2"] = pickle.dumps({b"data": Payload()}, protocol=2)
    folder = write_cifar(tmp_path, files, 10, archive=False)
    with pytest.raises(ConfigError, match=r"data_batch_2 is not a CIFAR python batch .*is not allowed"):
        CIFAR10DataModule(str(folder), cache_dir=str(tmp_path / "cache")).setup()
    assert not (tmp_path / "pwned").exists()


def test_a_gan_trains_an_epoch_on_cifar10_from_the_archive(compose_cfg, tmp_path, photos, one_thread):
    train_set, test_set = ((x, y % 10) for x, y in photos.values())
    path = write_cifar(tmp_path / "data", cifar_files(train_set, test_set, 10), 10, archive=True)
    cfg = compose_cfg(
        "dataset=cifar10",
        f"dataset.data_dir={path}",
        "dataset.batch_size=16",
        "dataset.device_resident=true",
        "model.monitor=null",
        "debug=limit",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=1",
        "~callbacks.sample_metrics",
        "logger=[]",
    )
    train(cfg)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_the_dcgan_cifar10_preset_builds_its_data_and_model(compose_cfg, tmp_path, photos):
    path = write_cifar(tmp_path / "data", cifar_files(*photos.values(), 100), 100, archive=True)
    cifar10 = write_cifar(tmp_path / "data10", cifar_files(*((x, y % 10) for x, y in photos.values()), 10), 10, archive=True)
    cfg = compose_cfg("experiment=dcgan_cifar10", f"dataset.data_dir={cifar10}")
    assert isinstance(instantiate(cfg.dataset), CIFAR10DataModule) and build_model(cfg).generator.latent_dim == 100
    assert isinstance(instantiate(compose_cfg("dataset=cifar100", f"dataset.data_dir={path}").dataset), CIFAR100DataModule)
