"""model=rnn (PixelRNN, Row LSTM): learns, reports exact NLL, samples, runs from the command line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from genlab.errors import ConfigError
from genlab.models.rnn import RNN
from genlab.nets.pixel_values import to_index
from genlab.train import train


def trainer(**kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def independent_pixels_bpd(train: torch.Tensor, val: torch.Tensor, levels: int) -> float:
    """Bits/dim on `val` of a per-pixel categorical fitted to `train` (level indices, N x D)."""
    counts = torch.full((train.shape[1], levels), 0.5, dtype=torch.float64)  # Jeffreys prior: no log(0)
    counts.scatter_add_(1, train.T, torch.ones(train.T.shape, dtype=torch.float64))
    log_p = (counts / counts.sum(1, keepdim=True)).log()
    nll = -log_p.gather(1, val.T).sum(0).mean()
    return float(nll / (train.shape[1] * math.log(2)))


def test_short_training_on_digits_beats_independent_pixels(compose_cfg, one_thread) -> None:
    torch.manual_seed(0)
    cfg = compose_cfg("experiment=pixelrnn_digits", "model.hidden=16", "model.layers=1")
    datamodule = instantiate(cfg.dataset)
    model = instantiate(cfg.model)
    datamodule.setup()
    flat_levels = {name: to_index(images.float() / 127.5 - 1, 17).flatten(1) for name, (images, _) in datamodule.splits.items()}
    baseline = independent_pixels_bpd(flat_levels["train"], flat_levels["val"], levels=17)

    fit = trainer(max_epochs=4, num_sanity_val_steps=0)
    fit.fit(model, datamodule=datamodule)
    val_bpd = float(fit.callback_metrics["val/bpd"])
    val_nll = float(fit.callback_metrics["val/nll"])

    assert val_bpd < baseline, f"PixelRNN {val_bpd:.3f} bits/dim vs independent pixels {baseline:.3f}"
    assert val_nll == pytest.approx(val_bpd * 64 * math.log(2), rel=1e-5)  # nats per image <-> bits/dim


def test_levels_that_do_not_fit_the_data_fail_at_start_up(compose_cfg) -> None:
    # Digits at 8x8 take 17 grey levels: a 5-level softmax cannot represent them.
    cfg = compose_cfg("model=rnn", "dataset=digits", "dataset.image_size=8", "model.levels=5", "model.hidden=4", "model.layers=1")
    with pytest.raises(ConfigError, match="model.levels=5"):
        trainer(fast_dev_run=True).fit(instantiate(cfg.model), datamodule=instantiate(cfg.dataset))
    # Binarized data needs the Bernoulli output (levels=2).
    cfg = compose_cfg("model=rnn", "dataset.image_size=8", "dataset.binarize=static", "model.hidden=4", "model.layers=1")
    with pytest.raises(ConfigError, match="model.levels=2"):
        trainer(fast_dev_run=True).fit(instantiate(cfg.model), datamodule=instantiate(cfg.dataset))


def test_sample_returns_images_on_the_level_grid_and_matches_the_naive_sampler(compose_cfg) -> None:
    torch.manual_seed(0)
    cfg = compose_cfg("experiment=pixelrnn_digits", "model.hidden=4", "model.layers=1")
    # float64: both samplers compute the same logits up to rounding, which float64 keeps far from
    # flipping a draw.
    model: RNN = instantiate(cfg.model).double()

    images = model.sample(5, generator=torch.Generator().manual_seed(1))
    naive = model.sample_naive(5, generator=torch.Generator().manual_seed(1))

    assert images.shape == (5, 1, 8, 8)
    assert torch.equal(images, naive)
    assert torch.allclose(images, to_index(images, 17).to(images.dtype) / 8 - 1)


def test_fast_dev_run_through_the_composed_config(compose_cfg, one_thread) -> None:
    cfg = compose_cfg("model=rnn", "dataset.image_size=8", "model.hidden=4", "model.layers=1", "debug=fdr")
    train(cfg)


def test_bad_levels_stop_genlab_train_with_one_sentence(compose_cfg) -> None:
    cfg = compose_cfg("model=rnn", "model.levels=17", "model.hidden=4", "model.layers=1", "debug=fdr")
    with pytest.raises(ConfigError) as err:
        train(cfg)  # digits resized to 16x16 take many more than 17 grey values
    assert str(err.value).startswith("model.levels=17 does not match the data")
    assert "\n" not in str(err.value)


def test_genlab_sample_draws_from_an_rnn_checkpoint(compose_cfg, cli, tmp_path, one_thread) -> None:
    cfg = compose_cfg("experiment=pixelrnn_digits", "model.hidden=4", "model.layers=1", "debug=limit")
    train(cfg)
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()

    out = tmp_path / "samples"
    sampled = cli("sample", f"ckpt_path={ckpt}", "num_samples=6", f"out={out}", f"hydra.run.dir={tmp_path / 's'}", env={"OMP_NUM_THREADS": "1"})
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    images = np.load(out / "samples.npz")["images"]
    assert images.shape == (6, 8, 8, 1)
    assert set(np.unique(images)) <= {round(k * 255 / 16) for k in range(17)}  # the 17 digit levels
    assert (out / "grid.png").is_file()
