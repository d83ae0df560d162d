"""GAN recipe presets (conf/experiment): they compose, build and train."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl

from genlab.data import DigitsDataModule
from genlab.errors import ConfigError, instantiate
from genlab.train import build_model


def test_diffaugment_10pct_trains_on_a_tenth_of_the_digits_with_translation(compose_cfg, one_thread):
    cfg = compose_cfg("experiment=diffaugment_10pct")
    data = instantiate(cfg.dataset)
    data.setup()
    # The model sees 144 of the 1,439 training digits; evaluation and the metric classifier see all.
    assert len(data.dataset("train")) == 144
    assert len(data.classifier_dataset("train")) == 1439
    assert len(data.dataset("val")) == len(DigitsDataModule().dataset("val")) == 179
    model = build_model(cfg)
    assert model.augment.policy == ("translation",)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=2 * 6,  # one D and one G step per batch: 6 batches, into the second epoch
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=data)
    assert trainer.num_training_batches == 4  # 144 images in batches of 32, the partial one dropped
    assert trainer.global_step == 12


@pytest.mark.parametrize("fraction", [0.0, 1.5])
def test_train_fraction_outside_0_1_is_rejected_naming_the_key(fraction):
    with pytest.raises(ConfigError, match="dataset.train_fraction"):
        DigitsDataModule(train_fraction=fraction)


def test_default_train_is_the_digits_gan_recipe_and_recipe_null_is_the_plain_gan(compose_cfg):
    recipe = compose_cfg()  # model=gan dataset=digits: conf/recipe/gan_digits.yaml
    assert list(recipe.model.diffaugment) == ["translation"] and recipe.model.r1_gamma > 0
    assert recipe.trainer.max_epochs == 100
    plain = compose_cfg("~recipe")
    assert not plain.model.diffaugment and plain.model.r1_gamma == 0
    build_model(recipe)


@pytest.mark.parametrize(("experiment", "classes"), [("dcgan_mnist", 0), ("cgan_mnist", 10)])
def test_mnist_gan_presets_are_their_recipes_and_recipe_null_is_the_plain_gan(compose_cfg, experiment, classes):
    cfg = compose_cfg(f"experiment={experiment}")  # conf/recipe/{gan,cgan}_mnist.yaml, picked by model and dataset
    assert cfg.model.generator.num_classes == classes
    assert list(cfg.model.diffaugment) == ["translation"] and cfg.model.r1_gamma > 0
    assert list(cfg.model.optimizer_d.betas) == [0.0, 0.99]
    assert cfg.trainer.max_epochs == 40 and cfg.dataset.batch_size == 64
    plain = compose_cfg(f"experiment={experiment}", "~recipe")
    assert not plain.model.diffaugment and plain.model.r1_gamma == 0
    assert build_model(cfg).num_classes == classes
