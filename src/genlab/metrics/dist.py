"""The few torch.distributed facts metrics need, with single-process defaults."""

from __future__ import annotations

import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless a process group is initialised (Lightning DDP, torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shard(n: int, rank: int, world: int) -> range:
    """The contiguous block of range(n) that `rank` owns (blocks in rank order cover range(n))."""
    return range(n * rank // world, n * (rank + 1) // world)
