"""dataset=digits: scikit-learn's embedded digits, resized, deterministic split, labels kept."""

from __future__ import annotations

import torch

from genlab.data import DigitsDataModule


def test_split_is_deterministic_disjoint_and_covers_all_images():
    a, b = DigitsDataModule(), DigitsDataModule()
    a.setup(), b.setup()
    sizes = {name: len(images) for name, (images, _) in a.splits.items()}
    assert sizes == {"train": 1439, "val": 179, "test": 179}
    for name in sizes:
        assert torch.equal(a.splits[name][0], b.splits[name][0])
        assert set(a.splits[name][1].tolist()) == set(range(10))


def test_batches_are_images_in_minus_one_one_and_labels():
    dm = DigitsDataModule(image_size=32, batch_size=16)
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (16, 1, 32, 32) and images.dtype == torch.float32
    assert -1.0 <= images.min() < -0.99 and 0.99 < images.max() <= 1.0
    assert labels.shape == (16,) and labels.dtype == torch.int64


def test_native_8px_digits_keep_their_17_levels():
    dm = DigitsDataModule(image_size=8)
    dm.setup()
    assert len(torch.unique(dm.splits["train"][0])) == 17


def test_three_channel_variant_repeats_the_grey_image():
    dm = DigitsDataModule(image_size=16, channels=3)
    images, _ = next(iter(dm.val_dataloader()))
    assert images.shape[1] == 3 and torch.equal(images[:, 0], images[:, 2])


def test_dynamic_binarization_draws_fresh_binary_training_images_and_fixed_validation_images():
    dm = DigitsDataModule(binarize="dynamic")
    train = dm.dataset("train")
    first, second = train.__getitems__([0, 1, 2])[0], train.__getitems__([0, 1, 2])[0]
    assert set(first.unique().tolist()) <= {-1.0, 1.0}
    assert not torch.equal(first, second)
    val = dm.dataset("val")
    assert torch.equal(val.__getitems__([0])[0], val.__getitems__([0])[0])
