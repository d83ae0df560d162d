"""GAN: alternating steps, every loss trains, and a short training beats the untrained generator."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from genlab.errors import instantiate
from genlab.train import build_model, instantiate_group, train
from tests.quality import judge_for, seeded_samples


def test_n_critic_discriminator_steps_per_generator_step(compose_cfg):
    cfg = compose_cfg(
        "model.n_critic=3",
        "model.loss=wgan_gp",
        "debug=limit",
        "trainer.limit_train_batches=6",
        "trainer.max_epochs=1",
        "logger=[]",
        "callbacks.sample_grid=null",
        "callbacks.sample_metrics=null",
        "model.monitor=null",
    )
    train(cfg)
    ckpt = torch.load(f"{cfg.paths.output_dir}/checkpoints/last.ckpt", weights_only=True)
    states = ckpt["optimizer_states"]
    g_steps = max(s["state"][0]["step"] for s in [states[0]]).item()
    d_steps = states[1]["state"][0]["step"].item()
    assert (g_steps, d_steps) == (2, 6)


@pytest.mark.parametrize("loss", ["non_saturating", "hinge", "lsgan", "wgan_gp"])
@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_fast_dev_run_trains_every_loss_on_every_dataset(compose_cfg, mnist_dir, loss, dataset):
    cfg = compose_cfg(
        f"model.loss={loss}",
        f"dataset={dataset}",
        f"paths.data_dir={mnist_dir.parent}",
        f"dataset.data_dir={mnist_dir}" if dataset == "mnist" else "dataset.batch_size=32",
        "debug=fdr",
    )
    model = build_model(cfg)
    # Weights only: e.g. the hinge loss gives the critic's output bias an exactly zero first gradient.
    before = {name: p.clone() for name, p in model.named_parameters() if p.requires_grad and name.endswith("weight")}
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    trainer.fit(model, datamodule=instantiate(cfg.dataset))
    after = dict(model.named_parameters())
    assert [name for name, p in before.items() if torch.equal(p, after[name])] == []
    assert set(trainer.callback_metrics) >= {"train/loss_d", "train/loss_g"}


def test_conditional_gan_samples_the_requested_classes(compose_cfg):
    model = build_model(compose_cfg("model=cgan"))
    assert model.num_classes == 10
    assert model.sample(20).shape == (20, 1, 16, 16)
    assert model.sample_labels(12).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


@pytest.mark.parametrize("model_name", ["gan", "cgan"])
def test_short_training_on_digits_beats_the_untrained_generator(compose_cfg, model_name):
    """~15 s of CPU: samples become classifiable digits of every class and move toward the data.

    Reference points on the same judge: real validation digits score 8.1 (PCA Frechet 1.3), uniform
    noise 2.1 (62), the untrained generator 1.0 (85). Measured after this training (seed 42):
    gan 4.7 (5.2), cgan 8.7 (14.9): the conditional model covers every class by construction but its
    samples are less varied within a class.
    """
    cfg = compose_cfg(
        f"model={model_name}",
        "trainer.max_epochs=12",
        "logger=[]",
        "callbacks.sample_grid=null",
        "callbacks.sample_metrics=null",
        "model.monitor=null",
    )
    judge = judge_for(instantiate(cfg.dataset))
    untrained = build_model(cfg)
    before = judge.digits_score(seeded_samples(untrained)), judge.pca_frechet(seeded_samples(untrained))
    train(cfg)
    from genlab.checkpoint import load_model

    trained = load_model(f"{cfg.paths.output_dir}/checkpoints/last.ckpt")
    after = judge.digits_score(seeded_samples(trained)), judge.pca_frechet(seeded_samples(trained))
    print(f"{model_name}: digits score {before[0]:.2f} -> {after[0]:.2f}, PCA Frechet {before[1]:.1f} -> {after[1]:.1f}")
    assert after[0] > 4.0 and after[0] > 2 * before[0]
    assert after[1] < 0.25 * before[1]


def test_a_fit_validates_on_one_batch_and_still_scores_samples_every_epoch(compose_cfg):
    """GAN quality comes from samples at the end of validation; its empty validation_step needs no data."""
    cfg = compose_cfg(
        "~recipe",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=3",
        "logger=[]",
        "callbacks.sample_grid=null",
        "metrics/features=random_cnn",
        "metrics.num_samples=64",
    )
    batches = []

    class Count(pl.Callback):
        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            batches.append((trainer.sanity_checking, trainer.current_epoch))

    model, datamodule = build_model(cfg), instantiate(cfg.dataset)
    callbacks = [*instantiate_group(cfg.callbacks), Count()]
    trainer = instantiate(cfg.trainer, logger=False, callbacks=callbacks)
    trainer.fit(model, datamodule=datamodule)
    assert batches == [(True, 0), (False, 0), (False, 1)]  # the sanity check, then one batch per epoch
    assert "val/fid" in trainer.callback_metrics and trainer.limit_val_batches == 1
