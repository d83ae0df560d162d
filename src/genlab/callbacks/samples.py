"""Image grids of the model's visuals, written to files and to every logger that takes images."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from genlab.callbacks.pace import is_last_epoch
from genlab.images import make_grid, save_grid, upscale_for_grid
from genlab.loggers import log_image, logger_step
from genlab.models.base import GenerativeModule


class SampleGrid(pl.Callback):
    """Every `every_n_epochs`, draw the model's `visuals` from fixed noise and a fixed validation batch.

    With `min_seconds`, an epoch end less than that many seconds of training after the last grid is
    skipped (a small dataset's epochs take a second on a GPU, and a grid each would be most of the
    run); the first epoch's grid and a final one when training ends are always written.

    Grids go to `dirpath/epoch_XXX.png` (the "samples" visual) and `dirpath/<name>_epoch_XXX.png`.
    Square grids of small images (8 x 8 of 16 px: 146 px) are enlarged by a whole factor, nearest
    neighbour, to at least `min_width` px, in the PNGs and on dashboards alike. Grids whose rows the
    model lays out (`visuals_nrow`: CycleGAN's real | fake | reconstructed | identity) keep their size.
    """

    def __init__(
        self,
        dirpath: str,
        every_n_epochs: int = 1,
        num_samples: int = 64,
        seed: int = 1234,
        min_width: int = 512,
        min_seconds: float = 0.0,
    ) -> None:
        self.dirpath = Path(dirpath)
        self.min_width = min_width
        self.every_n_epochs = every_n_epochs
        self.min_seconds = min_seconds
        self._written_at: tuple[int, float] | None = None  # (global step, time) of the last grid
        self.num_samples = num_samples
        self.seed = seed
        self._batch: Any = None
        self.last_paths: dict[str, Path] = {}

    def _fixed_batch(self, trainer: pl.Trainer, pl_module: GenerativeModule) -> Any:
        if self._batch is None:
            loader = trainer.datamodule.val_dataloader()
            batch = next(iter(loader))
            self._batch = tuple(t[: self.num_samples] for t in batch)
        return tuple(t.to(pl_module.device) for t in self._batch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: GenerativeModule) -> None:
        epoch = trainer.current_epoch
        final = is_last_epoch(trainer) or trainer.should_stop
        if final or ((epoch + 1) % self.every_n_epochs == 0 and self._clock_allows(trainer)):
            self.write(trainer, pl_module, epoch)

    def on_train_end(self, trainer: pl.Trainer, pl_module: GenerativeModule) -> None:
        # Runs stopped by max_time/max_steps mid-epoch, or whose last epoch end was skipped, still leave a final grid.
        if self._written_at is None or self._written_at[0] != trainer.global_step:
            self.write(trainer, pl_module, trainer.current_epoch)

    def _clock_allows(self, trainer: pl.Trainer) -> bool:
        if self._written_at is None or not self.min_seconds:
            return True
        # Rank 0's clock decides for all: every rank draws (below), so all must agree.
        return bool(trainer.strategy.broadcast(time.monotonic() - self._written_at[1] >= self.min_seconds))

    def write(self, trainer: pl.Trainer, pl_module: GenerativeModule, epoch: int) -> None:
        # Every rank draws (nets may hold collectives); rank 0 writes.
        generator = torch.Generator().manual_seed(self.seed)
        visuals = pl_module.visuals(self._fixed_batch(trainer, pl_module), generator)
        self._written_at = (trainer.global_step, time.monotonic())
        if not trainer.is_global_zero:
            return
        nrow = pl_module.visuals_nrow
        for name, images in visuals.items():
            stem = f"epoch_{epoch:03d}" if name == "samples" else f"{name}_epoch_{epoch:03d}"
            images = upscale_for_grid(images.cpu(), nrow, self.min_width if nrow is None else 0)
            self.last_paths[name] = save_grid(images, self.dirpath / f"{stem}.png", nrow=nrow)
            for logger in trainer.loggers:
                log_image(logger, f"samples/{name}", make_grid(images, nrow=nrow), step=logger_step(trainer))
