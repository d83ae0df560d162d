"""Training scalars at the cost of a dict update per step, instead of `LightningModule.log`'s.

`self.log(..., on_step=True)` in a training step costs Lightning ~0.2 ms of host time per scalar
per step (its result collection re-validates and moves every value on every call), and values
shown in the progress bar are copied to the host every step, a device sync on a GPU. For a GAN
step of ~1 ms on a GPU that is most of the step (benchmarks/README.md, "Per-step host overhead").

`record_training_scalars` keeps what users of Lightning rely on:
- `trainer.callback_metrics` holds every step's scalars as detached device tensors (no sync), so
  callbacks (FiniteLossCheck, EarlyStopping, user code) see the latest values as before;
- on the steps Lightning's loggers write (every `trainer.log_every_n_steps` batches, when the
  run is stopping, and every step of `fast_dev_run`) the scalars go to every logger, keyed by the
  same step and with the same "epoch" column as `self.log` rows, to `trainer.logged_metrics` and
  to the progress bar.

Lightning also has every logger `save()` after every row: for the CSV logger a file append (two,
with genlab's journal) every `log_every_n_steps` batches, ~0.3 ms of host time each. Here loggers
save at most every `SAVE_EVERY_SECONDS`; rows are never lost by it, since every checkpoint saves
the loggers first (genlab.callbacks.ModelCheckpoint) and Lightning saves them when training ends
or fails. Only a killed process loses up to that many seconds of rows, which its resumed run,
starting from the last checkpoint, writes again.
"""

from __future__ import annotations

import time
from collections.abc import Collection

import pytorch_lightning as pl
from torch import Tensor

#: At most this often the loggers write buffered training rows out (a dashboard or `tail -f` lags by up to this).
SAVE_EVERY_SECONDS = 2.0


def logs_this_step(trainer: pl.Trainer) -> bool:
    """Whether Lightning's loggers write the current training batch's row (its own rule, see
    `_LoggerConnector.should_update_logs`; the batch counter advances after the batch)."""
    if trainer.fast_dev_run:
        return True
    every = trainer.log_every_n_steps
    return every > 0 and ((trainer.fit_loop.epoch_loop._batches_that_stepped + 1) % every == 0 or trainer.should_stop)


def record_training_scalars(trainer: pl.Trainer, scalars: dict[str, Tensor], prog_bar: Collection[str] = ()) -> None:
    """Make this training batch's `scalars` (detached tensors) visible as `self.log(on_step=True)`
    would: in callback_metrics every step; in the loggers and the progress bar on logged steps."""
    trainer.callback_metrics.update(scalars)
    if not logs_this_step(trainer):
        return
    trainer.logged_metrics.update(scalars)
    values = {name: float(value) for name, value in scalars.items()}  # the host copy: logged steps only
    trainer.progress_bar_metrics.update({name: values[name] for name in prog_bar if name in values})
    if not trainer.loggers:
        return
    row = {**values, "epoch": trainer.current_epoch}
    step = trainer.fit_loop.epoch_loop._batches_that_stepped
    for logger in trainer.loggers:
        logger.log_metrics(row, step=step)
    now = time.monotonic()
    if now - trainer.__dict__.get("_genlab_rows_saved_at", -SAVE_EVERY_SECONDS) >= SAVE_EVERY_SECONDS:
        trainer.__dict__["_genlab_rows_saved_at"] = now
        for logger in trainer.loggers:
            logger.save()
