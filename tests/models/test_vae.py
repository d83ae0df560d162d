"""VAE: likelihood bookkeeping is right, and a short training beats the untrained model."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.data import DigitsDataModule
from genlab.errors import instantiate
from genlab.train import build_model, train


def validation_metrics(cfg, model) -> dict[str, float]:
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[], enable_progress_bar=False)
    [metrics] = trainer.validate(model, datamodule=instantiate(cfg.dataset), verbose=False)
    return metrics


def test_bits_per_dim_is_nats_over_dimensions_times_ln2(compose_cfg):
    model = build_model(compose_cfg("model=vae"))
    x = torch.zeros(2, 1, 16, 16)
    assert model.bits_per_dim(torch.tensor(256 * math.log(2)), x).item() == pytest.approx(1.0)


def test_importance_sampled_nll_is_tighter_than_the_elbo(compose_cfg):
    torch.manual_seed(0)
    cfg = compose_cfg("model=vae", "model.nll_samples=64")
    metrics = validation_metrics(cfg, build_model(cfg))
    assert metrics["val/nll"] <= metrics["val/nelbo"]
    assert metrics["val/bpd"] == pytest.approx(metrics["val/nll"] / (256 * math.log(2)), rel=1e-4)


def test_bernoulli_likelihood_on_binarized_mnist_format_data(compose_cfg, mnist_dir):
    cfg = compose_cfg("experiment=vae_mnist", f"dataset.data_dir={mnist_dir}", "debug=fdr")
    model = build_model(cfg)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    trainer.fit(model, datamodule=instantiate(cfg.dataset))
    assert trainer.callback_metrics["val/nll"] > 0


@pytest.mark.parametrize("model", ["vae", "cvae"])
def test_the_digits_vae_trains_at_batch_16_by_its_recipe_and_recipe_null_restores_the_plain_batch(compose_cfg, model):
    # conf/recipe/{vae,cvae}_digits.yaml: four times the updates per epoch (benchmarks/README.md).
    assert compose_cfg(f"model={model}").dataset.batch_size == 16
    assert compose_cfg(f"model={model}", "~recipe").dataset.batch_size == DigitsDataModule().batch_size == 64


def test_short_training_on_digits_beats_the_untrained_model(compose_cfg):
    """~15 s: validation NLL falls well below the untrained model's.

    Measured (seed 42, 8 epochs at the digits recipe's batch 16): 1236 -> 762 nats (6.97 -> 4.30
    bits/dim); 4.92 at the plain batch 64 (`~recipe`), which needs 14 epochs for 4.44.
    """
    cfg = compose_cfg(
        "model=vae", "model.nll_samples=32", "trainer.max_epochs=8", "logger=[]", "callbacks.sample_grid=null", "callbacks.sample_metrics=null"
    )
    untrained = validation_metrics(cfg, build_model(cfg))
    train(cfg)
    from genlab.checkpoint import load_model

    trained = validation_metrics(cfg, load_model(f"{cfg.paths.output_dir}/checkpoints/best.ckpt"))
    print(f"vae: val bpd {untrained['val/bpd']:.3f} -> {trained['val/bpd']:.3f}")
    assert trained["val/nll"] < 0.75 * untrained["val/nll"]
    assert trained["val/bpd"] < 5.0
