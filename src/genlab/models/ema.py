"""The generator's exponential moving average (EMA), the copy GANs sample from."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import _SpectralNorm
from torch.optim.swa_utils import AveragedModel


class WarmupEMAUpdate:
    """In-place EMA step for AveragedModel's `multi_avg_fn`, with decay min(decay, (1 + t) / (10 + t)).

    A class rather than a closure so models stay picklable (ddp_spawn pickles them).
    """

    def __init__(self, decay: float) -> None:
        self.decay = decay

    def weight(self, t: int) -> float:
        """The lerp weight of the current parameters at the (t + 1)-th update."""
        return 1.0 - min(self.decay, (1.0 + t) / (10.0 + t))

    def __call__(self, averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor | int) -> None:
        if not averaged[0].is_floating_point():  # BatchNorm's num_batches_tracked: copy
            torch._foreach_copy_(averaged, current)
            return
        torch._foreach_lerp_(averaged, current, self.weight(int(num_averaged)))


class EMA(AveragedModel):
    """Exponential moving average of a network's parameters and buffers (e.g. BatchNorm statistics).

    The decay warms up (see WarmupEMAUpdate) so the average is not dominated by the random
    initialisation early in training: with a fixed 0.999, 58% of the average is still the initial
    weights after 540 updates.

    `update` gives what `AveragedModel.update_parameters` gives, without its three reads of the
    update count per step (each a wait for the device on a GPU): the count is mirrored on the host
    and read from the `n_averaged` buffer once after a checkpoint is loaded.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        super().__init__(module, multi_avg_fn=WarmupEMAUpdate(decay), use_buffers=True)
        self.decay = decay
        # The copy belongs to no optimizer: keep autograd out of it.
        self.module.requires_grad_(False)
        self._updates: int | None = 0  # host mirror of n_averaged; None: read it at the next update
        self._spectral_norm = any(hasattr(sub, "parametrizations") for sub in self.module.modules())

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._updates = None

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        averaged = [*self.module.parameters(), *self.module.buffers()]
        current = [t.detach() for t in (*module.parameters(), *module.buffers())]
        if self._updates is None:
            self._updates = int(self.n_averaged)
        if self._updates == 0:
            torch._foreach_copy_(averaged, current)
        else:
            floats = [i for i, t in enumerate(averaged) if t.is_floating_point()]
            others = [i for i, t in enumerate(averaged) if not t.is_floating_point()]  # num_batches_tracked
            weight = self.multi_avg_fn.weight(self._updates)
            torch._foreach_lerp_([averaged[i] for i in floats], [current[i] for i in floats], weight)
            if others:
                torch._foreach_copy_([averaged[i] for i in others], [current[i] for i in others])
        self.n_averaged += 1
        self._updates += 1
        if self._spectral_norm:
            refresh_spectral_norms(self.module)


@torch.no_grad()
def refresh_spectral_norms(module: nn.Module, iterations: int = 1) -> None:
    """Re-estimate the power-iteration vectors of `module`'s spectral-norm parametrisations from its
    own weights: unit vectors, then `iterations` power iterations on the (averaged) weight.

    An EMA averages `_u` and `_v` like any buffer: the averages are shorter than unit vectors and
    track the live net's weights, not the averaged ones. The EMA copy samples in eval mode, where
    torch skips the power iteration and divides by u.W v, so it divided by too small a sigma (7.5%
    in the first layer of an SN-DCGAN generator after 8 epochs on digits).
    """
    for sub in module.modules():
        for weights in getattr(sub, "parametrizations", {}).values():
            original = weights.original
            for norm in weights:
                # Only a spectral norm applied to the stored weight itself (not chained after another).
                if isinstance(norm, _SpectralNorm) and original.ndim > 1 and len(weights) == 1:
                    norm._u.copy_(F.normalize(norm._u, dim=0, eps=norm.eps))
                    norm._v.copy_(F.normalize(norm._v, dim=0, eps=norm.eps))
                    norm._power_method(norm._reshape_weight_to_matrix(original), iterations)
