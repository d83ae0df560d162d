"""Verify that data-parallel replicas hold identical weights (a cheap guard against silent DDP bugs)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor


def checksum(tensors: Iterable[Tensor]) -> float:
    """A float64 digest of the tensors, position-weighted so that swapped tensors show too."""
    total = torch.zeros((), dtype=torch.float64)
    for i, tensor in enumerate(tensors):
        total += (i + 1) * tensor.detach().double().cpu().sum()
    return float(total)


class WeightSyncCheck(pl.Callback):
    """At the end of fit, gather every rank's parameter digest and raise if any differ.

    Buffers (e.g. BatchNorm running statistics) are reported but not required to match: DDP
    broadcasts them from rank 0 at the start of each step, so they differ by the last step's update.
    With `path`, rank 0 writes both digests per rank as JSON, for inspection and tests.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        local = torch.tensor([checksum(pl_module.parameters()), checksum(pl_module.buffers())], dtype=torch.float64, device=pl_module.device)
        gathered = trainer.strategy.all_gather(local).reshape(-1, 2).tolist()
        params, buffers = [g[0] for g in gathered], [g[1] for g in gathered]
        if trainer.is_global_zero and self.path:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            report = {"world_size": trainer.world_size, "parameters": params, "buffers": buffers}
            Path(self.path).write_text(json.dumps(report))
        if len(set(params)) > 1:
            raise RuntimeError(f"DDP replicas diverged: parameter checksums per rank {params}")
