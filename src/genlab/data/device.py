"""Device-resident training batches: the whole uint8 dataset is one tensor on the training device and
every batch is one indexing op there (no per-item DataLoader, no host-to-device copy per batch)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol

import torch
from torch import Tensor


class BatchSource(Protocol):
    """A dataset that returns a whole batch for a tensor of indices (ImageTensorDataset)."""

    def __getitems__(self, indices: Tensor) -> Any: ...


class ShardedBatchSampler:
    """Index batches of a shuffled epoch, split across data-parallel ranks.

    Epoch e's order is `randperm(num_items)` drawn from `seed + e`, the same on every rank. Global
    batch i holds positions [i*B*W, (i+1)*B*W) of that order (B = batch_size, W = world_size) and
    rank r takes its r-th slice of B: the ranks never share an item within an epoch, and their
    batches together are exactly the batch one process with batch size B*W draws. Without
    `drop_last` the order wraps around to fill the last global batch, so every rank gets B items
    (DDP needs equal batch counts; DistributedSampler pads the same way).
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
    ) -> None:
        self.num_items, self.batch_size, self.shuffle, self.drop_last = num_items, batch_size, shuffle, drop_last
        self.seed, self.rank, self.world_size, self.device = seed, rank, world_size, torch.device(device)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this at the start of every epoch (as for a DistributedSampler)."""
        self.epoch = epoch

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        batches = self.num_items / self.global_batch_size
        return max(1, math.floor(batches) if self.drop_last else math.ceil(batches))

    def order(self) -> Tensor:
        """This epoch's item order (CPU, so it is the same on every device type), padded by wrapping."""
        if self.shuffle:
            order = torch.randperm(self.num_items, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(self.num_items)
        needed = len(self) * self.global_batch_size
        return order.repeat(math.ceil(needed / self.num_items))[:needed]

    def __iter__(self) -> Iterator[Tensor]:
        # One small host-to-device copy per epoch; batches are then slices on the device.
        order = self.order().to(self.device).view(len(self), self.world_size, self.batch_size)
        yield from order[:, self.rank]


class DeviceBatches:
    """Training batches drawn by index from a source held on the device; resumable mid-epoch.

    `sampler` is the attribute Lightning looks for to call `set_epoch`; `state_dict` and
    `load_state_dict` make Lightning save the position in checkpoints (as with a StatefulDataLoader).
    """

    def __init__(self, source: BatchSource, sampler: ShardedBatchSampler) -> None:
        self.source, self.sampler = source, sampler
        self._served = 0  # batches yielded in the current epoch
        self._resume_at = 0

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[Any]:
        start, self._resume_at = self._resume_at, 0
        self._served = start
        for indices in list(self.sampler)[start:]:
            self._served += 1
            yield self.source.__getitems__(indices)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_served": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.set_epoch(state["epoch"])
        self._resume_at = state["batches_served"] % max(1, len(self))
