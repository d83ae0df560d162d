"""GAN under mixed precision, torch.compile and channels-last: gradient penalty under autocast,
clipping after unscaling, compiled networks with checkpoint keys unchanged, NHWC weights."""

from __future__ import annotations

import math
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision

from genlab.data import DigitsDataModule
from genlab.errors import ConfigError
from genlab.losses import gradient_penalty
from genlab.models.gan import GAN
from genlab.nets.dcgan import Discriminator, Generator
from genlab.train import build_model, train

QUIET = ["debug=limit", "trainer.max_epochs=1", "logger=[]", "callbacks.sample_metrics=null", "callbacks.sample_grid=null", "model.monitor=null"]


class GradNorms(pl.Callback):
    """D's gradient norm as its optimizer used it (gradients survive until the next zero_grad)."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        grads = [p.grad for p in pl_module.discriminator.parameters() if p.grad is not None]
        self.norms.append(torch.nn.utils.get_total_norm(grads).item())


def small_wgan_gp(grad_clip: float) -> GAN:
    adam = partial(torch.optim.Adam, betas=(0.0, 0.9))
    return GAN(Generator(16, 16, 1, 8), Discriminator(16, 1, 8, norm=None), adam, adam, loss="wgan_gp", grad_clip=grad_clip, ema_decay=0)


def test_gradient_penalty_scaling_is_undone_exactly():
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))
    real, fake = torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4)
    torch.manual_seed(0)  # the same interpolation weights for both
    plain = gradient_penalty(critic, real, fake)
    torch.manual_seed(0)
    scaled = gradient_penalty(critic, real, fake, scale=2.0**16)
    torch.testing.assert_close(scaled, plain)


def test_fp16_mixed_clips_unscaled_gradients_and_trains_with_gradient_penalty():
    """A real GradScaler (fp16 autocast runs on CPU too): the clipped norm equals `grad_clip`, which it
    would not if clipping saw gradients still multiplied by the scale (~2**15)."""
    norms = GradNorms()
    trainer = pl.Trainer(
        accelerator="cpu",
        plugins=[MixedPrecision("16-mixed", "cpu")],
        max_steps=8,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[norms],
        limit_val_batches=0,
    )
    trainer.fit(small_wgan_gp(grad_clip=1e-2), datamodule=DigitsDataModule(batch_size=16))
    assert trainer.precision_plugin.scaler.get_scale() > 1
    finite = [n for n in norms.norms if math.isfinite(n)]  # the scaler skips steps whose gradients overflowed
    assert finite and all(n == pytest.approx(1e-2, rel=1e-3) for n in finite)
    assert math.isfinite(trainer.callback_metrics["train/gp"])


def test_bf16_mixed_from_the_config_trains_wgan_gp(compose_cfg):
    cfg = compose_cfg("model=wgan_gp", "model.n_critic=1", "model.grad_clip=1.0", "trainer.precision=bf16-mixed", *QUIET)
    train(cfg)
    state = torch.load(f"{cfg.paths.output_dir}/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_compile_compiles_the_networks_in_place_and_keeps_checkpoint_keys(compose_cfg, eager_compile: list[str]):
    cfg = compose_cfg("~recipe", "model.compile=true", "trainer.limit_train_batches=2", *QUIET)
    train(cfg)
    assert eager_compile == ["Generator", "Discriminator"]  # the networks, not the LightningModule
    keys = list(torch.load(f"{cfg.paths.output_dir}/checkpoints/last.ckpt", weights_only=True)["state_dict"])
    assert keys and not any("_orig_mod" in key for key in keys)
    assert "generator.net.0.weight" in keys and "discriminator.head.weight" in keys


def test_compile_mode_reaches_torch_compile_and_cuda_graph_modes_mark_every_batch_as_a_step(compose_cfg, monkeypatch, tmp_path):
    modes: list[str] = []
    real_compile = torch.compile

    def compile_eagerly(fn, mode=None, **kwargs):  # record the mode, trace without code generation
        modes.append(mode)
        return real_compile(fn, backend="eager")

    marks: list[int] = []
    monkeypatch.setattr(torch, "compile", compile_eagerly)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    for mode, batches in (("reduce-overhead", 3), ("max-autotune-no-cudagraphs", 2)):
        modes.clear()
        marks.clear()
        run_dir = f"paths.output_dir={tmp_path / mode}"  # a run dir each: genlab-train refuses one that holds a run
        cfg = compose_cfg("~recipe", "model.compile=true", f"model.compile_mode={mode}", f"trainer.limit_train_batches={batches}", run_dir, *QUIET)
        train(cfg)
        assert modes == [mode, mode]  # G and D
        # CUDA graphs: each batch starts a new step (the last step's graph outputs may be overwritten).
        assert len(marks) == (batches if mode == "reduce-overhead" else 0)


def test_an_unknown_compile_mode_is_refused_naming_the_modes(compose_cfg):
    with pytest.raises(ConfigError, match=r"model.compile_mode='fastest': expected one of .*reduce-overhead"):
        build_model(compose_cfg("~recipe", "model.compile=true", "model.compile_mode=fastest", *QUIET))


def test_channels_last_stores_nhwc_weights_and_trains_the_same_model():
    def fit(channels_last: bool) -> GAN:
        pl.seed_everything(0)
        adam = partial(torch.optim.Adam, betas=(0.5, 0.999))
        model = GAN(Generator(16, 16, 1, 8), Discriminator(16, 1, 8), adam, adam, ema_decay=0.9, channels_last=channels_last)
        trainer = pl.Trainer(
            accelerator="cpu",
            max_steps=6,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
        )
        trainer.fit(model, datamodule=DigitsDataModule(batch_size=16))
        return model

    nhwc, nchw = fit(True), fit(False)
    four_d = [p for p in nhwc.state_dict().values() if p.dim() == 4]
    assert four_d and all(p.is_contiguous(memory_format=torch.channels_last) for p in four_d)  # EMA copy included
    assert nhwc.state_dict().keys() == nchw.state_dict().keys()
    for key, value in nhwc.state_dict().items():
        torch.testing.assert_close(value, nchw.state_dict()[key], rtol=1e-3, atol=1e-4, msg=key)


def test_compile_with_gradient_penalties_is_refused_before_training(compose_cfg):
    for overrides in (["model.compile=true"], ["~recipe", "model=wgan_gp", "model.compile=true"]):  # the recipe's R1; WGAN-GP
        with pytest.raises(ConfigError, match=r"model.compile=true cannot train gradient penalties"):
            build_model(compose_cfg(*overrides, *QUIET))


@pytest.mark.slow
def test_compile_with_the_default_backend_trains(compose_cfg):
    cfg = compose_cfg("~recipe", "model.compile=true", "trainer.limit_train_batches=2", *QUIET)
    train(cfg)
    keys = torch.load(f"{cfg.paths.output_dir}/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert not any("_orig_mod" in key for key in keys)
