"""dataset=mnist: the standard IDX files, both split layouts, and clear errors for missing files."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from genlab.data import MNISTDataModule
from genlab.data.mnist import read_idx, write_idx
from genlab.errors import ConfigError


def test_idx_round_trip_gzipped_and_raw(tmp_path):
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    assert np.array_equal(read_idx(write_idx(tmp_path / "x-idx3-ubyte.gz", array)), array)
    assert np.array_equal(read_idx(write_idx(tmp_path / "x-idx3-ubyte", array)), array)


def test_train_split_train_uses_train_files_and_validates_on_t10k(mnist_dir):
    dm = MNISTDataModule(data_dir=str(mnist_dir))
    dm.setup()
    assert len(dm.splits["train"][0]) == 256 and len(dm.splits["val"][0]) == 128
    assert dm.splits["train"][0].shape[1:] == (1, 28, 28)


def test_train_split_t10k_holds_out_the_last_val_size_images(mnist_dir):
    dm = MNISTDataModule(data_dir=str(mnist_dir), train_split="t10k", val_size=28)
    dm.setup()
    assert len(dm.splits["train"][0]) == 100 and len(dm.splits["val"][0]) == 28


def test_reads_raw_files_as_well_as_gz(tmp_path, mnist_dir):
    for gz in mnist_dir.glob("t10k-*.gz"):
        with gzip.open(gz) as src, open(tmp_path / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    dm = MNISTDataModule(data_dir=str(tmp_path), train_split="t10k", val_size=28)
    dm.setup()
    assert len(dm.splits["val"][0]) == 28


def test_missing_directory_names_the_path_and_where_to_get_the_files(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset.data_dir=.*nowhere.*does not exist.*t10k-labels-idx1-ubyte.*yann.lecun.com"):
        MNISTDataModule(data_dir=str(tmp_path / "nowhere"))


def test_missing_file_is_reported_before_training_naming_the_expected_files(tmp_path, mnist_dir):
    shutil.copy(mnist_dir / "t10k-images-idx3-ubyte.gz", tmp_path)
    with pytest.raises(ConfigError, match="missing t10k-labels-idx1-ubyte"):
        MNISTDataModule(data_dir=str(tmp_path), train_split="t10k")


def test_corrupt_file_names_the_file(tmp_path, mnist_dir):
    for f in mnist_dir.iterdir():
        shutil.copy(f, tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    dm = MNISTDataModule(data_dir=str(tmp_path), train_split="t10k", val_size=28)
    with pytest.raises(ConfigError, match="t10k-images-idx3-ubyte.gz is not a valid IDX file"):
        dm.setup()


def test_the_real_t10k_files_read_as_10000_labelled_digits(shared_mnist):
    dm = MNISTDataModule(data_dir=str(shared_mnist), train_split="t10k")
    dm.setup()
    assert len(dm.splits["train"][0]) == 8000 and len(dm.splits["val"][0]) == 2000
    assert dm.splits["train"][0].dtype.is_floating_point is False
