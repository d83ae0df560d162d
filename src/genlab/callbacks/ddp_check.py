"""Verify that data-parallel replicas hold identical weights (a cheap guard against silent DDP bugs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
import torch


def state_checksum(module: torch.nn.Module) -> float:
    """A float64 digest of every parameter and buffer (order-dependent, so layout changes show too)."""
    total = torch.zeros((), dtype=torch.float64)
    for i, tensor in enumerate(module.state_dict().values()):
        total += (i + 1) * tensor.detach().double().cpu().sum()
    return float(total)


class WeightSyncCheck(pl.Callback):
    """At the end of fit, gather every rank's weight digest; raise if they differ.

    With `path`, rank 0 writes the digests as JSON (one per rank) for inspection and tests.
    """

    def __init__(self, path: str | None = None, rtol: float = 0.0) -> None:
        self.path = path
        self.rtol = rtol

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        local = torch.tensor([state_checksum(pl_module)], dtype=torch.float64, device=pl_module.device)
        digests = trainer.strategy.all_gather(local).flatten().tolist()
        if trainer.is_global_zero and self.path:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            Path(self.path).write_text(json.dumps({"world_size": trainer.world_size, "checksums": digests}))
        if max(digests) - min(digests) > self.rtol * abs(digests[0]):
            raise RuntimeError(f"DDP replicas diverged: weight checksums per rank {digests}")
