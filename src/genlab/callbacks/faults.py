"""Numeric faults: stop at the first NaN/inf training loss, before it reaches a checkpoint."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl

from genlab.scalars import logs_this_step


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite. Sweeps score the trial as inf (see genlab.train)."""


class FiniteLossCheck(pl.Callback):
    """Raise NonFiniteLossError if a training loss (`train/loss*` by default) is NaN or infinite,
    naming the batch, the optimizer step and the loss term.

    When: after every batch on the CPU, where reading a loss costs nothing. On accelerators reading
    it waits for the device, so there the check runs on the batches the loggers write (every
    `trainer.log_every_n_steps`), and before every checkpoint save, which it aborts: Lightning runs
    checkpoint callbacks after all others, so last.ckpt always stays the last good state and the run
    can be resumed from it (e.g. with a lower lr). A NaN there is reported on the batch it is seen.
    """

    def __init__(self, prefix: str = "train/loss") -> None:
        self.prefix = prefix
        self._every_batch = True

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Once a fit (the module is on its device by now), not once a batch.
        self._every_batch = pl_module.device.type == "cpu"

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._every_batch or logs_this_step(trainer):
            self.check(trainer, batch_idx)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        if trainer.state.fn == "fit":  # also the saves after validation, which runs inside fit
            self.check(trainer, trainer.fit_loop.epoch_loop.batch_idx)

    def check(self, trainer: pl.Trainer, batch_idx: int) -> None:
        for name, value in trainer.callback_metrics.items():
            if name.startswith(self.prefix) and not math.isfinite(float(value)):
                raise NonFiniteLossError(
                    f"{name} is {float(value)} at epoch {trainer.current_epoch}, batch {batch_idx} "
                    f"(global step {trainer.global_step}); the run stopped, last.ckpt holds the last good state"
                )
