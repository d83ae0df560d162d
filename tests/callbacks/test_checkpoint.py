"""Checkpoints: last.ckpt refreshed mid-epoch, and written atomically."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest
import torch

from genlab.callbacks import AtomicCheckpointIO, ModelCheckpoint
from genlab.callbacks.pace import Pace
from tests.callbacks.tiny import TinyModel, tiny_trainer


class RecordingIO(AtomicCheckpointIO):
    """Records (global step, time) of every checkpoint it writes."""

    def __init__(self) -> None:
        super().__init__()
        self.saves: list[tuple[int, float]] = []

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        self.saves.append((checkpoint["global_step"], time.monotonic()))
        super().save_checkpoint(checkpoint, path, storage_options)

    @property
    def steps(self) -> list[int]:
        return [step for step, _ in self.saves]


def test_last_ckpt_is_refreshed_every_n_batches_and_at_the_end_of_each_epoch(tmp_path):
    io = RecordingIO()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, last_every_n_batches=3)
    tiny_trainer(tmp_path, [checkpoint], max_epochs=2, plugins=[io]).fit(TinyModel())
    # 8 batches per epoch: after batches 3 and 6, then at the epoch's end (the 8th batch).
    assert io.steps == [3, 6, 8, 11, 14, 16]
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 16


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    with pytest.raises((pickle.PicklingError, AttributeError)):  # a local lambda cannot be pickled
        io.save_checkpoint({"step": torch.tensor(2), "unpicklable": lambda: None}, path)  # fails mid-write
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_last_ckpt_is_refreshed_about_every_n_seconds_of_training_and_when_training_ends(tmp_path):
    io = RecordingIO()

    class Slow(TinyModel):
        def training_step(self, batch, batch_idx):
            time.sleep(0.02)  # ~50 batches per second at most: 0.3 s is ~15 batches or fewer
            return super().training_step(batch, batch_idx)

    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, last_every_seconds=0.3)
    tiny_trainer(tmp_path, [checkpoint], max_epochs=12, plugins=[io]).fit(Slow())
    saves = io.saves  # (global step, time)
    assert saves[-1][0] == 96, saves  # the end of training is always saved
    timed = saves[:-1]
    assert timed[0][0] > Pace.CALIBRATION_BATCHES and len(timed) >= 2, saves  # the pace is measured first
    # Spaced by the clock, not by a batch count or by epochs (8 batches each: 12 epoch ends, most
    # not saved); the pace may change between plans, hence 1/3 of the interval.
    assert all(later - earlier > 0.1 for (_, earlier), (_, later) in zip(saves, saves[1:])), saves
    assert len(saves) < 12, saves


def test_with_neither_clock_nor_batch_count_last_ckpt_is_saved_at_every_epoch_end(tmp_path):
    io = RecordingIO()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    tiny_trainer(tmp_path, [checkpoint], max_epochs=3, plugins=[io]).fit(TinyModel())
    assert io.steps == [8, 16, 24]


def test_a_run_stopped_by_max_steps_mid_epoch_saves_its_last_step(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, last_every_seconds=300)
    tiny_trainer(tmp_path, [checkpoint], max_epochs=3, max_steps=13).fit(TinyModel())
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 13


@pytest.mark.slow
def test_time_based_saves_fall_on_the_same_batch_on_every_ddp_rank(cli, tmp_path):
    """A save is collective (RNG states are gathered): ranks that disagreed would hang, not fail."""
    log = tmp_path / "saves.txt"
    result = cli(
        "train",
        "model.monitor=null",
        "~callbacks.sample_metrics",
        "trainer=ddp_cpu",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "dataset.batch_size=16",
        "callbacks.model_checkpoint.last_every_seconds=0.2",
        "+callbacks.spy._target_=tests.spies.SaveLog",
        f"+callbacks.spy.path={log}",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"PYTHONPATH": str(Path(__file__).parents[2])},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saves = [line.split() for line in log.read_text().splitlines()]
    steps = {rank: [int(step) for r, step in saves if r == rank] for rank in ("0", "1")}
    assert steps["0"] == steps["1"] and len(steps["0"]) >= 2, steps  # mid-epoch saves, then the end of training
