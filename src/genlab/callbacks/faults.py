"""Numeric faults: stop at the first NaN/inf training loss, before it reaches a checkpoint."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite. Sweeps score the trial as inf (see genlab.train)."""


class FiniteLossCheck(pl.Callback):
    """After every training batch, raise NonFiniteLossError if a logged loss (`train/loss*` by
    default) is NaN or infinite, naming the batch, the optimizer step and the loss term.

    Lightning runs checkpoint callbacks after all others, so the failing step is never saved:
    last.ckpt stays the last good state and the run can be resumed from it (e.g. with a lower lr).
    """

    def __init__(self, prefix: str = "train/loss") -> None:
        self.prefix = prefix

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        for name, value in trainer.callback_metrics.items():
            if name.startswith(self.prefix) and not math.isfinite(float(value)):
                raise NonFiniteLossError(
                    f"{name} is {float(value)} at epoch {trainer.current_epoch}, batch {batch_idx} "
                    f"(global step {trainer.global_step}); the run stopped, last.ckpt holds the last good state"
                )
