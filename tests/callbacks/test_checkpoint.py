"""Checkpoints: last.ckpt refreshed mid-epoch, and written atomically."""

from __future__ import annotations

import pickle

import pytest
import torch

from genlab.callbacks import AtomicCheckpointIO, ModelCheckpoint
from tests.callbacks.tiny import TinyModel, tiny_trainer


def test_last_ckpt_is_refreshed_every_n_batches_and_at_the_end_of_each_epoch(tmp_path):
    saved_steps = []

    class Spy(AtomicCheckpointIO):
        def save_checkpoint(self, checkpoint, path, storage_options=None):
            saved_steps.append(checkpoint["global_step"])
            super().save_checkpoint(checkpoint, path, storage_options)

    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, last_every_n_batches=3)
    tiny_trainer(tmp_path, [checkpoint], max_epochs=2, plugins=[Spy()]).fit(TinyModel())
    # 8 batches per epoch: after batches 3 and 6, then at the epoch's end (the 8th batch).
    assert saved_steps == [3, 6, 8, 11, 14, 16]
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 16


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    with pytest.raises((pickle.PicklingError, AttributeError)):  # a local lambda cannot be pickled
        io.save_checkpoint({"step": torch.tensor(2), "unpicklable": lambda: None}, path)  # fails mid-write
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind
