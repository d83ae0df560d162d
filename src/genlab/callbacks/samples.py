"""Image grids of the model's visuals, written to files and to every logger that takes images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from genlab.images import make_grid, save_grid, upscale_for_grid
from genlab.loggers import log_image, logger_step
from genlab.models.base import GenerativeModule


class SampleGrid(pl.Callback):
    """Every `every_n_epochs`, draw the model's `visuals` from fixed noise and a fixed validation batch.

    Grids go to `dirpath/epoch_XXX.png` (the "samples" visual) and `dirpath/<name>_epoch_XXX.png`.
    Square grids of small images (8 x 8 of 16 px: 146 px) are enlarged by a whole factor, nearest
    neighbour, to at least `min_width` px, in the PNGs and on dashboards alike. Grids whose rows the
    model lays out (`visuals_nrow`: CycleGAN's real | fake | reconstructed | identity) keep their size.
    """

    def __init__(self, dirpath: str, every_n_epochs: int = 1, num_samples: int = 64, seed: int = 1234, min_width: int = 512) -> None:
        self.dirpath = Path(dirpath)
        self.min_width = min_width
        self.every_n_epochs = every_n_epochs
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
        last = trainer.max_epochs is not None and epoch + 1 >= trainer.max_epochs
        if (epoch + 1) % self.every_n_epochs and not last and not trainer.should_stop:
            return
        self.write(trainer, pl_module, epoch)

    def on_train_end(self, trainer: pl.Trainer, pl_module: GenerativeModule) -> None:
        # Runs stopped by max_time/max_steps mid-epoch still leave a final grid.
        if not self.last_paths:
            self.write(trainer, pl_module, trainer.current_epoch)

    def write(self, trainer: pl.Trainer, pl_module: GenerativeModule, epoch: int) -> None:
        # Every rank draws (nets may hold collectives); rank 0 writes.
        generator = torch.Generator().manual_seed(self.seed)
        visuals = pl_module.visuals(self._fixed_batch(trainer, pl_module), generator)
        if not trainer.is_global_zero:
            return
        nrow = pl_module.visuals_nrow
        for name, images in visuals.items():
            stem = f"epoch_{epoch:03d}" if name == "samples" else f"{name}_epoch_{epoch:03d}"
            images = upscale_for_grid(images.cpu(), nrow, self.min_width if nrow is None else 0)
            self.last_paths[name] = save_grid(images, self.dirpath / f"{stem}.png", nrow=nrow)
            for logger in trainer.loggers:
                log_image(logger, f"samples/{name}", make_grid(images, nrow=nrow), step=logger_step(trainer))
