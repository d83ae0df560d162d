"""callbacks=early_stopping: the default callbacks plus Lightning's EarlyStopping on the monitored metric."""

from __future__ import annotations

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
