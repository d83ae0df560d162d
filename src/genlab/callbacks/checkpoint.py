"""Checkpointing: Lightning's ModelCheckpoint plus mid-epoch last.ckpt, and atomic checkpoint files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint as _ModelCheckpoint

from genlab.callbacks.pace import Pace


class ModelCheckpoint(_ModelCheckpoint):
    """Lightning's ModelCheckpoint; with `monitor=None` it writes last.ckpt only (no duplicate 'best').

    When last.ckpt is refreshed, so that a killed run loses little and a fast one does not spend its
    time writing checkpoints:
    - `last_every_seconds`: about every that many seconds of training, at a batch's end or, when that
      batch ends an epoch, after the epoch's validation (`genlab.callbacks.pace.Pace`: every rank saves
      at the same batch). Epoch ends in between are not saved: at GPU speeds a small dataset's epochs
      take a second, and a save per epoch would be most of the run (Lightning's `train_time_interval`
      works the same way);
    - `last_every_n_batches`: every n training batches (counted in batches, not
      `trainer.global_step`, which advances once per optimizer step: twice per GAN batch);
    - with `last_every_seconds` unset, at the end of every epoch, as in Lightning;
    - always when training ends (max_epochs, max_steps, max_time or early stopping).
    A monitored "best" checkpoint is Lightning's, unchanged: checked at every validation.
    """

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
        self._pace = Pace(last_every_seconds) if last_every_seconds else None
        self._epoch_end_due = self._pace is None  # whether this epoch's end saves last.ckpt

    @property
    def state_key(self) -> str:
        # Lightning rebuilds this string (a repr of the constructor's arguments) for every callback
        # hook it dispatches, several times per batch; the arguments do not change.
        if getattr(self, "_state_key", None) is None:
            self._state_key = super().state_key
        return self._state_key

    def needs_validation(self, trainer: pl.Trainer) -> bool:
        # Checked and saved at the training epoch's end (after its validation, if any), unless it runs
        # after validations (check_val_every_n_epoch > 1, or several validations an epoch).
        return not self._should_save_on_train_epoch_end(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        if self._pace is not None:
            self._pace.start(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if not self.save_last:
            return
        n = self.last_every_n_batches
        save = bool(n) and (batch_idx + 1) % n == 0
        if self._pace is not None and self._pace.due(trainer):
            save = True
        # The epoch's last batch is left to the end-of-epoch save, which follows validation.
        if save and batch_idx + 1 >= trainer.num_training_batches:
            self._epoch_end_due = True
        elif save:
            self._save_last(trainer)

    # Lightning 2.6 refreshes last.ckpt at the end of an epoch only when a top-k checkpoint was saved
    # at that step, so with no monitor (save_top_k=0) it never would: save it ourselves.
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_at_epoch_end(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_at_epoch_end(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._save_last(trainer)  # however training stopped; skipped when this step is saved already

    def _save_last_at_epoch_end(self, trainer: pl.Trainer) -> None:
        if self._epoch_end_due:
            self._save_last(trainer)
            self._epoch_end_due = self._pace is None

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
