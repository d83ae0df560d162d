"""Distributed strategies for models that alternate optimizer steps (GAN, CycleGAN)."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.strategies import DDPStrategy


def enable_unused_parameter_detection(trainer: pl.Trainer) -> None:
    """Let Lightning's plain DDP strategies (`ddp`, `ddp_spawn`) run alternating G/D steps.

    Each backward of a GAN step leaves one network without gradients; DDP without
    `find_unused_parameters` then raises. Turn detection on unless the user set it explicitly.
    Must run before the strategy wraps the model (LightningModule.setup does).
    """
    strategy = trainer.strategy
    if isinstance(strategy, DDPStrategy):
        # DDPStrategy keeps its DistributedDataParallel kwargs here and has no public setter.
        strategy._ddp_kwargs.setdefault("find_unused_parameters", True)
