"""CycleGAN's image pools: a history of generated images per direction, kept per DDP rank.

The pools live outside the module's state_dict so that data-parallel ranks keep their own histories
(DDP would otherwise broadcast rank 0's buffers); checkpoints carry every rank's pools, gathered by
`pools_state` and handed back by `load_pools`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class ImagePool:
    """History of generated images (Shrivastava et al. 2017), as in the official CycleGAN code.

    Until `size` images are stored, every queried image is stored and returned. Then each image is,
    with probability 1/2, swapped with a random stored one (the stored one is returned), otherwise
    returned as is. `size=0` disables the pool. The pool lives outside the module's state_dict so
    that data-parallel ranks keep their own histories (DDP would otherwise broadcast rank 0's
    buffers); the model saves it in checkpoints itself.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif bool(torch.rand(()) < 0.5):
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state(self) -> Tensor:
        """The stored images as one CPU tensor (N x C x H x W; N = 0 when empty)."""
        return torch.stack(self.images).cpu() if self.images else torch.empty(0)

    def load_state(self, images: Tensor, device: torch.device | str = "cpu") -> None:
        self.images = [image.to(device) for image in images]


def pools_state(pools: dict[str, ImagePool], trainer: Any, device: torch.device | str) -> dict[str, list[Tensor]]:
    """{pool name: [rank 0's images, rank 1's, ...]}: under DDP every rank's history is gathered,
    so that a resume with the same world size gives each rank its own back."""
    per_rank = {}
    for name, pool in pools.items():
        state = pool.state()
        if trainer is not None and trainer.world_size > 1 and len(pool):
            per_rank[name] = [g.cpu() for g in trainer.strategy.all_gather(state.to(device))]
        else:
            per_rank[name] = [state]
    return per_rank


def load_pools(pools: dict[str, ImagePool], saved: dict[str, list[Tensor]], rank: int, device: torch.device | str) -> None:
    """Restore `pools_state`: each rank its own history, or rank 0's after a change of world size."""
    for name, states in saved.items():
        state = states[rank] if len(states) > rank else states[0]
        pools[name].load_state(state, device)
