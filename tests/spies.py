"""Callbacks that record what a CLI run did (importable by the CLI subprocesses: run them with PYTHONPATH=<repo>)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class SaveLog(pl.Callback):
    """Appends "<rank> <global step>" to `path` for every checkpoint each rank takes part in."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(f"{trainer.global_rank} {trainer.global_step}\n")


class ValidationLog(pl.Callback):
    """Appends the epoch of every validation's end to `path`; with `declared`, it says it needs none
    itself (`needs_validation`, genlab.dispatch.validation_needed), so it sees only those others need."""

    def __init__(self, path: str, declared: bool = True) -> None:
        self.path = Path(path)
        if declared:
            self.needs_validation = lambda trainer: False

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            with self.path.open("a") as f:
                f.write(f"{trainer.current_epoch}\n")
