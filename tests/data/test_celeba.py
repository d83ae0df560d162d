"""dataset=celeba: a folder in CelebA's layout (img_align_celeba/ JPEGs of 178 x 218 photo crops,
list_eval_partition.txt, list_attr_celeba.txt): the official split, the 108 px face crop, attribute labels."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from genlab.data import CelebADataModule
from genlab.errors import ConfigError, instantiate
from genlab.train import build_model, train
from tests.data.fixtures import write_celeba


@pytest.fixture
def celeba(tmp_path):
    root = tmp_path / "celeba"
    images, partition, smiling = write_celeba(root, n=12)
    return root, images, partition, smiling


def test_the_official_partition_and_the_108px_face_crop_at_64px(celeba, tmp_path):
    root, images, partition, _ = celeba
    dm = CelebADataModule(str(root), cache_dir=str(tmp_path / "cache"))
    dm.setup()
    for split, number in (("train", 0), ("val", 1), ("test", 2)):
        expected_ids = np.flatnonzero(partition == number)
        assert [int(p.stem) - 1 for p in dm.files[split]] == expected_ids.tolist()
        served = dm.splits[split][0].permute(0, 2, 3, 1).numpy()
        assert served.shape == (len(expected_ids), 64, 64, 3)
        for image, i in zip(served, expected_ids):
            # What the DCGAN reference code does: the centred 108 x 108 box (left 35, top 55), then 64 px.
            face = Image.open(root / "img_align_celeba" / f"{i + 1:06d}.jpg").crop((35, 55, 143, 163)).resize((64, 64), Image.BICUBIC)
            np.testing.assert_array_equal(image, np.asarray(face))
            original = np.asarray(Image.fromarray(images[i]).crop((35, 55, 143, 163)).resize((64, 64), Image.BICUBIC))
            assert np.abs(image.astype(int) - original).mean() < 6  # within JPEG loss of the photo written
    assert dm.num_classes == 0


def test_an_attribute_becomes_a_binary_label(celeba, tmp_path):
    root, _, partition, smiling = celeba
    dm = CelebADataModule(str(root), attribute="Smiling", cache_dir=str(tmp_path / "cache"))
    dm.setup()
    assert dm.num_classes == 2
    for split, number in (("train", 0), ("val", 1), ("test", 2)):
        assert dm.splits[split][1].tolist() == smiling[partition == number].tolist()


def test_the_google_drive_layout_is_found(celeba, tmp_path):
    root, _, _, _ = celeba
    for name, folder in (("img_align_celeba", "Img"), ("list_eval_partition.txt", "Eval"), ("list_attr_celeba.txt", "Anno")):
        (root / folder).mkdir()
        shutil.move(root / name, root / folder / name)
    dm = CelebADataModule(str(root), attribute="Young", cache_dir=str(tmp_path / "cache"))
    assert len(dm.files["train"]) == 6 and dm.files["train"][0].parent == root / "Img" / "img_align_celeba"


@pytest.mark.parametrize(
    ("damage", "kwargs", "message"),
    [
        ("no_partition", {}, "no list_eval_partition.txt"),
        ("no_images", {}, "no img_align_celeba/ folder"),
        ("missing_image", {}, r"lists .*000003.jpg, which does not exist"),
        ("none", {"attribute": "Smilling"}, r"dataset.attribute=Smilling: not a column of .*Smiling"),
    ],
)
def test_a_damaged_celeba_folder_fails_at_construction_naming_what_is_missing(celeba, tmp_path, damage, kwargs, message):
    root = celeba[0]
    if damage == "no_partition":
        (root / "list_eval_partition.txt").unlink()
    if damage == "no_images":
        shutil.rmtree(root / "img_align_celeba")
    if damage == "missing_image":
        (root / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(ConfigError, match=message):
        CelebADataModule(str(root), cache_dir=str(tmp_path / "cache"), **kwargs)


def test_a_cgan_trains_on_a_celeba_attribute_and_is_refused_without_one(compose_cfg, celeba, tmp_path, one_thread):
    root = celeba[0]
    quick = ["debug=limit", "trainer.max_epochs=1", "trainer.limit_val_batches=1", "~callbacks.sample_metrics", "logger=[]"]
    base = ["model=cgan", "model.monitor=null", "dataset=celeba", f"dataset.data_dir={root}", "dataset.image_size=16", "dataset.batch_size=4"]
    with pytest.raises(ConfigError, match=r"class-conditional .*dataset.attribute"):
        train(compose_cfg(*base, *quick))
    train(compose_cfg(*base, "dataset.attribute=Smiling", *quick))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize(("experiment", "crop"), [("dcgan_celeba64", 108), ("vae_celeba64", 148)])
def test_the_celeba_presets_build_their_data_and_model(compose_cfg, celeba, experiment, crop):
    cfg = compose_cfg(f"experiment={experiment}", f"dataset.data_dir={celeba[0]}")
    dm = instantiate(cfg.dataset)
    assert isinstance(dm, CelebADataModule) and dm.face_crop == crop and dm.image_size == 64
    build_model(cfg)
