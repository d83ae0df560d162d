"""callbacks=early_stopping: the default callbacks plus early stopping on the monitored metric (genlab.callbacks.EarlyStopping)."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.train import train


def test_training_stops_once_the_monitored_metric_stops_improving(compose_cfg, tmp_path, one_thread):
    cfg = compose_cfg(
        "model=vae",
        "model.nll_samples=2",
        "callbacks=early_stopping",
        "~callbacks.sample_metrics",
        "callbacks.early_stopping.patience=1",
        "callbacks.early_stopping.min_delta=1e9",  # no epoch can improve by that much
        "trainer.max_epochs=6",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "logger=[]",
    )
    assert cfg.callbacks.early_stopping.monitor == "val/nll"  # follows model.monitor
    train(cfg)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1  # epoch 0 sets the reference, epoch 1 fails to improve: stop (of 6)


@pytest.mark.parametrize(
    ("target", "evaluated"),
    [("genlab.callbacks.EarlyStopping", [0, 2, 4]), ("pytorch_lightning.callbacks.EarlyStopping", [0])],
    ids=["genlab", "lightning"],
)
def test_patience_counts_fid_evaluations_not_the_validations_between_them(compose_cfg, tmp_path, one_thread, target, evaluated):
    """val/fid every 3 epochs (0, 2 and the last, 4), patience 1: the epochs between evaluations keep
    the last val/fid, which Lightning's EarlyStopping counts as a validation without improvement
    (it stops at epoch 1 with one FID computed); genlab's skips them, and the FID falls from the
    untrained generator's at epoch 2, so training runs on to its last epoch."""
    cfg = compose_cfg(
        "~recipe",
        "model.generator.width=8",
        "model.discriminator.width=8",
        "callbacks=early_stopping",
        "callbacks.early_stopping.patience=1",
        f"callbacks.early_stopping._target_={target}",
        "metrics.every_n_epochs=3",
        "metrics.num_samples=200",
        "trainer.max_epochs=5",
        "trainer.limit_train_batches=4",
        "logger=[]",
    )
    assert cfg.callbacks.early_stopping.monitor == "val/fid"
    train(cfg)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == evaluated
