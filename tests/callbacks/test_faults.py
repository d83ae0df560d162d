"""A NaN/inf loss stops the run, names the step and the loss term, and never reaches a checkpoint."""

from __future__ import annotations

import pytest
import torch

from genlab.callbacks import FiniteLossCheck, ModelCheckpoint, NonFiniteLossError
from tests.callbacks.tiny import TinyModel, tiny_trainer


def test_a_nan_loss_stops_training_and_last_ckpt_keeps_the_last_good_step(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True, last_every_n_batches=1)
    trainer = tiny_trainer(tmp_path, [FiniteLossCheck(), checkpoint])
    with pytest.raises(NonFiniteLossError, match=r"train/loss is nan at epoch 0, batch 3 \(global step 4\)"):
        trainer.fit(TinyModel(nan_at=3))
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 3  # batches 0-2; batch 3's NaN step was never saved
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())


def test_finite_losses_pass(tmp_path):
    trainer = tiny_trainer(tmp_path, [FiniteLossCheck()], enable_checkpointing=False)
    trainer.fit(TinyModel())
    assert trainer.state.finished
