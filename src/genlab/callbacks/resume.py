"""Exact resume: every rank's random number generator states travel in the checkpoint.

Lightning saves model, optimizer, scheduler and loop state (and the StatefulDataLoader's sampler
position), but no RNG state. Without it a resumed GAN draws different noise and
diverges from the uninterrupted run at the first resumed step.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python RNG states as plain tensors/lists (weights_only-loadable)."""
    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos), "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "python": {"version": version, "state": list(mt), "gauss": gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


class RNGStateCallback(pl.Callback):
    """Saves the RNG states of every rank with each checkpoint and restores this rank's state right
    before the first resumed training batch.

    Restored there, not at load time: between loading and the first batch Lightning and the data
    loaders draw random numbers that the uninterrupted run drew before it saved. Batches fetched
    before that point (the loader prefetches one) draw from the old state, so data pipelines that
    use the global RNG per item (random crops, dynamic binarization) resume close, not bit-exact.
    """

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] | None = None

    def state_dict(self) -> dict[str, Any]:
        local = rng_state()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            states: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(states, local)  # every rank runs dump_checkpoint; rank 0 writes it
            return {"ranks": states}
        return {"ranks": [local]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict.get("ranks")

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if not self._pending:
            return
        states, self._pending = self._pending, None
        # Same world size: each rank its own stream; otherwise rank 0's (the run cannot be exact anyway).
        set_rng_state(states[trainer.global_rank] if len(states) == trainer.world_size else states[0])
