"""Fault injection for tests (importable by the CLI subprocesses: run them with PYTHONPATH=<repo>)."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytorch_lightning as pl


class KillAt(pl.Callback):
    """SIGKILLs its own process at the start of training batch `batch` of epoch `epoch`: a hard crash,
    no exception handler, no checkpoint-on-exception."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)
