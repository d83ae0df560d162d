"""A progress bar that redraws a few times a second, not after every batch."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar, TQDMProgressBar
from pytorch_lightning.callbacks.progress.rich_progress import _RICH_AVAILABLE


class _Throttled:
    """Skips the per-batch redraw (and the metrics dict it formats) unless `refresh_seconds` have
    passed or the epoch ends: Lightning's bars redraw after every batch, which at a thousand
    batches a second costs more host time than a small model's step. Both bars take absolute
    positions, so a skipped batch is never lost."""

    def __init__(self, refresh_seconds: float = 0.25, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refresh_seconds = refresh_seconds
        self._drawn = -math.inf  # the first batch is drawn, however young the monotonic clock (a fresh VM's is minutes)
        self._epoch_batches = 0  # the bar's total for this epoch, read once at its start

    def needs_validation(self, trainer: pl.Trainer) -> bool:
        return False  # shows a validation when there is one

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._epoch_batches = self.total_train_batches

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        now = time.monotonic()
        if now - self._drawn < self.refresh_seconds and batch_idx + 1 < self._epoch_batches:
            return
        self._drawn = now
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


class RichBar(_Throttled, RichProgressBar):
    pass


class TQDMBar(_Throttled, TQDMProgressBar):
    pass


def progress_bar(enabled: bool | None = True, refresh_seconds: float = 0.25) -> pl.Callback | None:
    """The bar Lightning would pick (Rich when installed, else tqdm), throttled; None when the
    trainer's `enable_progress_bar` is false (Lightning refuses a bar callback then)."""
    if enabled is False:
        return None
    return (RichBar if _RICH_AVAILABLE else TQDMBar)(refresh_seconds=refresh_seconds)
