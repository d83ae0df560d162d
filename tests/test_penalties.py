"""Zero-centred gradient penalties (R1 on real, R2 on generated images) and their lazy schedule."""

from __future__ import annotations

import json
import math
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision
from torch import nn

from genlab.data import DigitsDataModule
from genlab.losses import zero_centred_penalty
from genlab.models.gan import GAN
from genlab.nets.dcgan import Discriminator, Generator


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere, so R1 = R2 = ||w||^2."""

    def __init__(self, size: int = 16) -> None:
        super().__init__()
        self.linear = nn.Linear(size * size, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(x.flatten(1)).flatten()


def test_penalty_of_a_linear_critic_is_its_squared_weight_norm():
    critic = LinearCritic(4)
    images = torch.randn(8, 1, 4, 4)
    expected = critic.linear.weight.pow(2).sum()
    torch.testing.assert_close(zero_centred_penalty(critic, images), expected)


def test_penalty_of_a_quadratic_critic_is_the_mean_squared_image_norm():
    # D(x) = ||x||^2 / 2 has gradient x.
    images = torch.randn(8, 3, 4, 4)
    penalty = zero_centred_penalty(lambda x: 0.5 * x.flatten(1).pow(2).sum(1), images)
    torch.testing.assert_close(penalty, images.flatten(1).pow(2).sum(1).mean())


def test_penalty_scaling_is_undone_exactly():
    critic = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
    images = torch.randn(4, 1, 4, 4)
    torch.testing.assert_close(zero_centred_penalty(critic, images, scale=2.0**16), zero_centred_penalty(critic, images))


def test_penalty_is_differentiable_with_respect_to_the_critic():
    critic = LinearCritic(4)
    zero_centred_penalty(critic, torch.randn(8, 1, 4, 4)).backward()
    torch.testing.assert_close(critic.linear.weight.grad, 2 * critic.linear.weight.detach())


def d_weight_after_one_step(**options) -> torch.Tensor:
    """The linear critic's weight after one training batch with SGD(lr=1), from a fixed start."""
    pl.seed_everything(0)
    sgd = partial(torch.optim.SGD, lr=1.0)
    critic = LinearCritic(16)
    model = GAN(Generator(8, 16, 1, 8), critic, sgd, sgd, lr_g=1.0, lr_d=1.0, ema_decay=0, **options)
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, limit_val_batches=0)
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=16))
    return model.discriminator.linear.weight.detach().clone()


@pytest.mark.parametrize("key", ["r1_gamma", "r2_gamma"])
def test_lazy_penalty_adds_k_times_half_gamma_times_its_gradient_to_the_d_step(key, one_thread):
    """With SGD(lr=1) the step moves w by -grad; the penalty's share is -k * gamma / 2 * 2w."""
    pl.seed_everything(0)
    w0 = LinearCritic(16).linear.weight.detach().clone()  # the same start as in every run below
    plain = d_weight_after_one_step()
    gamma, k = 0.5, 4
    penalised = d_weight_after_one_step(**{key: gamma, "reg_every": k})
    torch.testing.assert_close(plain - penalised, k * gamma * w0, rtol=1e-4, atol=1e-6)


def test_lazy_penalty_runs_on_every_kth_d_step_of_the_run(tmp_path, one_thread):
    class Seen(pl.Callback):
        def __init__(self) -> None:
            self.batches: list[int] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if "train/r1" in trainer.callback_metrics and trainer.callback_metrics["train/r1"] != getattr(self, "last", None):
                self.batches.append(trainer.fit_loop.epoch_loop.total_batch_idx)
                self.last = trainer.callback_metrics["train/r1"]

    adam = partial(torch.optim.Adam, betas=(0.0, 0.9))
    model = GAN(Generator(8, 16, 1, 8), Discriminator(16, 1, 8), adam, adam, ema_decay=0, r1_gamma=1.0, reg_every=3)
    seen = Seen()
    # 2 epochs of 4 batches: the schedule runs across epochs (batches 0, 3, 6 of the run).
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        limit_train_batches=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        callbacks=[seen],
    )
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=16))
    assert seen.batches == [0, 3, 6]


def test_r1_and_r2_train_under_fp16_mixed_with_a_real_grad_scaler(one_thread):
    adam = partial(torch.optim.Adam, betas=(0.0, 0.9))
    model = GAN(Generator(8, 16, 1, 8), Discriminator(16, 1, 8, norm=None), adam, adam, ema_decay=0, r1_gamma=10.0, r2_gamma=1.0, reg_every=2)
    trainer = pl.Trainer(
        accelerator="cpu",
        plugins=[MixedPrecision("16-mixed", "cpu")],
        max_steps=12,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=16))
    assert trainer.precision_plugin.scaler.get_scale() > 1  # the penalty's input gradient was taken of the scaled output
    assert math.isfinite(trainer.callback_metrics["train/r1"]) and math.isfinite(trainer.callback_metrics["train/r2"])
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
def test_r1_with_spectral_norm_and_diffaugment_keeps_ranks_identical_under_ddp(cli, tmp_path):
    """Double backward through SeparateDDPStrategy's D wrapper, as WGAN-GP does (2 gloo processes)."""
    sync = tmp_path / "sync.json"
    result = cli(
        "train",
        "debug=limit",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=6",
        "logger=[]",
        "callbacks.sample_metrics=null",
        "callbacks.sample_grid=null",
        "model.monitor=null",
        "trainer.enable_progress_bar=false",
        "+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck",
        f"+callbacks.sync.path={sync}",
        "trainer=ddp_cpu",
        "dataset.batch_size=16",
        "model.r1_gamma=1.0",
        "model.r2_gamma=1.0",
        "model.reg_every=2",
        "model.discriminator.spectral_norm=true",
        "model.diffaugment=[translation,cutout]",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(sync.read_text())
    assert report["world_size"] == 2 and report["parameters"][0] == report["parameters"][1]
