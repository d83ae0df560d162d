"""Training scalars (genlab.scalars): what `self.log(on_step=True)` gave users, without its per-step cost."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger

from genlab.callbacks import FiniteLossCheck, ModelCheckpoint, NonFiniteLossError
from genlab.models.base import GenerativeModule
from tests.callbacks.tiny import TinyModel, tiny_trainer


class ViaLogTrain(GenerativeModule):
    """TinyModel's regression, its scalars recorded through `log_train` instead of `self.log`."""

    def __init__(self, nan_at: int | None = None) -> None:
        super().__init__()
        self.tiny = TinyModel(nan_at)
        self.seen: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.tiny.layer(x), y)
        if self.global_step == self.tiny.nan_at:
            loss = loss * math.nan
        self.log_train({"train/loss": loss.detach(), "train/twice": 2 * loss.detach()}, prog_bar=("train/loss",))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.tiny.configure_optimizers()

    def train_dataloader(self):
        return self.tiny.train_dataloader()


class ViaSelfLog(ViaLogTrain):
    """The same, through Lightning's `self.log_dict` as genlab models did before."""

    def log_train(self, scalars, prog_bar=()):
        self.log_dict({k: v for k, v in scalars.items() if k in prog_bar}, prog_bar=True, on_step=True, on_epoch=False)
        self.log_dict({k: v for k, v in scalars.items() if k not in prog_bar}, on_step=True, on_epoch=False)


def csv_rows(tmp_path, family: type[pl.LightningModule], **trainer_options: Any) -> list[dict[str, str]]:
    torch.manual_seed(0)
    model = family()
    logger = CSVLogger(tmp_path / type(model).__name__, name="", version="")
    trainer = tiny_trainer(tmp_path, [], logger=logger, max_epochs=2, **trainer_options)
    trainer.fit(model)
    path = Path(logger.experiment.metrics_file_path)
    return list(csv.DictReader(path.open())) if path.exists() else []  # no logged step: no file


@pytest.mark.parametrize("every", [1, 3, 7])
def test_loggers_get_the_same_rows_as_from_self_log(tmp_path, every):
    rows = csv_rows(tmp_path, ViaLogTrain, log_every_n_steps=every)
    assert rows == csv_rows(tmp_path, ViaSelfLog, log_every_n_steps=every)
    assert [int(row["step"]) for row in rows] == [step for step in range(16) if (step + 1) % every == 0]


def test_callback_metrics_hold_every_steps_scalars_as_device_tensors(tmp_path):
    class Watch(pl.Callback):
        def __init__(self) -> None:
            self.values: list[torch.Tensor] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.values.append(trainer.callback_metrics["train/loss"])

    watch = Watch()
    trainer = tiny_trainer(tmp_path, [watch], log_every_n_steps=50)
    trainer.fit(ViaLogTrain())
    assert len(watch.values) == 8 and all(isinstance(v, torch.Tensor) for v in watch.values)
    assert len({float(v) for v in watch.values}) == 8  # a fresh value every step, not the last logged one


def test_the_progress_bar_shows_the_named_scalars_from_logged_steps(tmp_path):
    trainer = tiny_trainer(tmp_path, [], log_every_n_steps=4)
    model = ViaLogTrain()
    trainer.fit(model)
    assert set(trainer.progress_bar_metrics) == {"train/loss"}
    assert isinstance(trainer.progress_bar_metrics["train/loss"], float)


def test_a_nan_between_checked_steps_never_reaches_a_checkpoint(tmp_path):
    """On accelerators the loss is read on logged batches only; a checkpoint save in between reads it
    first and stops the run (simulated on the CPU by a check that skips every batch)."""

    class AcceleratorCheck(FiniteLossCheck):
        def on_train_batch_end(self, *args: Any) -> None:  # no per-batch read: only the save-time guard
            pass

    checkpoint = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True, last_every_n_batches=2)
    trainer = tiny_trainer(tmp_path, [AcceleratorCheck(), checkpoint])
    with pytest.raises(NonFiniteLossError, match=r"train/loss is nan at epoch 0, batch 5 \(global step 6\)"):
        trainer.fit(ViaLogTrain(nan_at=5))
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 4  # saved after batch 3; batch 5's save was refused
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())


class CountingCSVLogger(CSVLogger):
    """Records, at every save, how many rows its file holds afterwards."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved_rows: list[int] = []

    def save(self) -> None:
        super().save()
        path = Path(self.experiment.metrics_file_path)
        self.saved_rows.append(len(list(csv.DictReader(path.open()))) if path.exists() else 0)


def test_training_rows_are_saved_by_the_clock_yet_complete_at_every_checkpoint_and_the_end(tmp_path, monkeypatch):
    """Lightning saves every logger after every row (a file append each for CSV); genlab saves at
    most every SAVE_EVERY_SECONDS, and a checkpoint or the end of training still finds every row written."""
    monkeypatch.setattr("genlab.scalars.SAVE_EVERY_SECONDS", 3600.0)
    logger = CountingCSVLogger(tmp_path / "csv", name="", version="")
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True, last_every_n_batches=4)
    trainer = tiny_trainer(tmp_path, [checkpoint], logger=logger, log_every_n_steps=1)
    trainer.fit(ViaLogTrain())
    # Saved at the first row (the clock starts there), before the checkpoints after batches 4 and 8,
    # and at the end (besides Lightning's save of the hyperparameters before any row); not after
    # each of the 8 rows.
    assert [rows for rows in logger.saved_rows if rows] == [1, 4, 8, 8]
    assert len(list(csv.DictReader(Path(logger.experiment.metrics_file_path).open()))) == 8
