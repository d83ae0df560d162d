"""Checkpointing: Lightning's ModelCheckpoint plus mid-epoch last.ckpt, and atomic checkpoint files."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint as _ModelCheckpoint


class ModelCheckpoint(_ModelCheckpoint):
    """Lightning's ModelCheckpoint; with `monitor=None` it writes last.ckpt only (no duplicate 'best').

    Mid-epoch refreshes of last.ckpt, so a killed run loses little:
    - `last_every_n_batches`: every n training batches (counted in batches, not
      `trainer.global_step`, which advances once per optimizer step: twice per GAN batch);
    - `last_every_seconds`: about every that many seconds of training. A wall-clock test on every
      rank could disagree between ranks (a save is collective), and asking rank 0 every batch is a
      collective per step; instead rank 0 turns the time into a batch count from the measured pace
      at each save (after `CALIBRATION_BATCHES` at first) and broadcasts it: one collective per save,
      and every rank saves at the same batch.
    Either or both; each epoch also ends with a save, as in Lightning.
    """

    #: Batches timed before the first time-based save is planned.
    CALIBRATION_BATCHES = 20

    def __init__(
        self,
        monitor: str | None = None,
        save_top_k: int = 1,
        last_every_n_batches: int | None = None,
        last_every_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(monitor=monitor, save_top_k=save_top_k if monitor else 0, **kwargs)
        self.last_every_n_batches = last_every_n_batches
        self.last_every_seconds = last_every_seconds
        self._next_timed_save: int | None = None  # the run's batch count at which to save next
        self._paced_since: tuple[int, float] = (0, 0.0)  # (batch count, time) the pace is measured from
        self._calibrating = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        if self.last_every_seconds:
            done = trainer.fit_loop.epoch_loop.batch_progress.total.ready  # batches of the run so far (resumed: restored)
            self._paced_since = (done, time.monotonic())
            self._next_timed_save, self._calibrating = done + self.CALIBRATION_BATCHES, True

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if not self.save_last:
            return
        n = self.last_every_n_batches
        save = bool(n) and (batch_idx + 1) % n == 0
        done = trainer.fit_loop.epoch_loop.total_batch_idx + 1  # batches of the run, this one included
        if self._next_timed_save is not None and done >= self._next_timed_save:
            save = self._plan_timed_save(trainer, done) or save
        # The epoch's last batch is left to the end-of-epoch save, which follows validation.
        if save and batch_idx + 1 < trainer.num_training_batches:
            self._save_last(trainer)

    def _plan_timed_save(self, trainer: pl.Trainer, done: int) -> bool:
        """Plan the next time-based save from the pace since the last one (rank 0's, broadcast);
        True when this batch is a save point (every plan but the first, which only calibrates)."""
        since, start = self._paced_since
        now = time.monotonic()
        pace = (now - start) / max(done - since, 1)
        batches = int(trainer.strategy.broadcast(max(1, round(self.last_every_seconds / max(pace, 1e-9)))))
        if self._calibrating:  # the first save falls `last_every_seconds` after the start
            self._calibrating = False
            self._next_timed_save = max(since + batches, done + 1)
            return False
        self._paced_since, self._next_timed_save = (done, now), done + batches
        return True

    # Lightning 2.6 refreshes last.ckpt at the end of an epoch only when a top-k checkpoint was saved
    # at that step, so with no monitor (save_top_k=0) it never would: save it ourselves.
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last(trainer)

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        # Flush the loggers first: the records up to a checkpoint must be on disk when it is, or a
        # crash right after it would leave a gap in the history the resumed run continues.
        for logger in trainer.loggers:
            logger.save()
        super()._save_checkpoint(trainer, filepath)

    def _save_last(self, trainer: pl.Trainer) -> None:
        # Skipped when this step is saved already, in sanity checks and fast_dev_run.
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in the same folder, then renames it into place.

    A crash (or `kill -9`) while saving leaves the previous file intact: `os.replace` is atomic on
    POSIX file systems, while Lightning's own save truncates the target before writing it.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
