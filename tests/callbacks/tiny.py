"""A tiny LightningModule and Trainer for callback tests (seconds on one CPU core)."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


class TinyModel(pl.LightningModule):
    """Linear regression; its loss is logged as `train/loss` and turns NaN at batch `nan_at` (if set)."""

    def __init__(self, nan_at: int | None = None) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.nan_at = nan_at

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        if self.global_step == self.nan_at:
            loss = loss * math.nan
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(64, 4, generator=generator)
        return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def tiny_trainer(tmp_path, callbacks: list, **kwargs: Any) -> pl.Trainer:
    options = {"max_epochs": 1, "logger": False, "enable_progress_bar": False, "enable_model_summary": False, **kwargs}
    return pl.Trainer(default_root_dir=tmp_path, accelerator="cpu", callbacks=callbacks, **options)
