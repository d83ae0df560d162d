"""Checkpointing: Lightning's ModelCheckpoint plus mid-epoch last.ckpt, and atomic checkpoint files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint as _ModelCheckpoint


class ModelCheckpoint(_ModelCheckpoint):
    """Lightning's ModelCheckpoint; with `monitor=None` it writes last.ckpt only (no duplicate 'best').

    `last_every_n_batches`: also refresh last.ckpt every n training batches, so a killed run loses at
    most n batches. Counted in batches, not `trainer.global_step`, which advances once per optimizer
    step (twice per GAN batch, n_critic + 1 per G step).
    """

    def __init__(self, monitor: str | None = None, save_top_k: int = 1, last_every_n_batches: int | None = None, **kwargs: Any) -> None:
        super().__init__(monitor=monitor, save_top_k=save_top_k if monitor else 0, **kwargs)
        self.last_every_n_batches = last_every_n_batches

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        n = self.last_every_n_batches
        # The epoch's last batch is left to the end-of-epoch save, which follows validation.
        if not n or not self.save_last or (batch_idx + 1) % n or batch_idx + 1 >= trainer.num_training_batches:
            return
        self._save_last(trainer)

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
