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

    `update` (also `update_parameters`) gives what `AveragedModel.update_parameters` gives, with less
    host time per step (~39 us instead of ~101 us a small-DCGAN batch without the two changes
    below; benchmarks/README.md, issue 17):
    - the update count lives on the host. AveragedModel reads the `n_averaged` buffer three times a
      step (each a wait for the device on a GPU) and increments it (a kernel); here the buffer is
      written when a state dict is saved and read once after one is loaded;
    - which of the network's tensors pairs with which of the copy's is worked out once per network
      (`TensorPairs`), not by walking both module trees every step.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        super().__init__(module, multi_avg_fn=WarmupEMAUpdate(decay), use_buffers=True)
        self.decay = decay
        # The copy belongs to no optimizer: keep autograd out of it.
        self.module.requires_grad_(False)
        self._updates: int | None = 0  # the update count; None: read n_averaged at the next update
        self._spectral_norm = any(hasattr(sub, "parametrizations") for sub in self.module.modules())

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._updates = None

    def _save_to_state_dict(self, *args: Any, **kwargs: Any) -> None:
        if self._updates is not None:
            self.n_averaged.fill_(self._updates)
        super()._save_to_state_dict(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        # The pairs hold the source network: pickling (ddp_spawn) and deepcopy rebuild them instead.
        return {key: value for key, value in self.__dict__.items() if key != "_pairs"}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        pairs = self.__dict__.get("_pairs")
        if pairs is None or pairs.source is not module:
            pairs = self.__dict__["_pairs"] = TensorPairs(self.module, module)
        if self._updates is None:
            self._updates = int(self.n_averaged)
        averaged, current = pairs.floats()
        if self._updates == 0:
            torch._foreach_copy_(averaged, current)
        else:
            torch._foreach_lerp_(averaged, current, self.multi_avg_fn.weight(self._updates))
        averaged, current = pairs.others()  # BatchNorm's num_batches_tracked: copied
        if averaged:
            torch._foreach_copy_(averaged, current)
        self._updates += 1
        if self._spectral_norm:
            refresh_spectral_norms(self.module)

    def update_parameters(self, model: nn.Module) -> None:
        self.update(model)


#: Where a tensor sits: a module's `_parameters` or `_buffers` dict, and its key there.
Slot = tuple[dict[str, Tensor], str]


class TensorPairs:
    """The (averaged, current) tensor pairs of an EMA update: each parameter and buffer of `source`
    (in the order and with the de-duplication of `parameters()` and `buffers()`) against the copy's.

    Kept as the dict and key each tensor sits under, and looked up at every update: moving a network
    (`.to()`, `.cuda()`) replaces its buffers, and the pairs must see the new ones.
    """

    def __init__(self, copy: nn.Module, source: nn.Module) -> None:
        self.source = source
        averaged, current = self.slots(copy), self.slots(source)
        if len(averaged) != len(current):
            raise ValueError(f"the EMA copy has {len(averaged)} parameters and buffers, the network {len(current)}: not the same architecture")
        floating = [table[key].is_floating_point() for table, key in averaged]
        self._floats = [(a, c) for a, c, f in zip(averaged, current, floating) if f]
        self._others = [(a, c) for a, c, f in zip(averaged, current, floating) if not f]

    @staticmethod
    def slots(module: nn.Module) -> list[Slot]:
        """The slot of each tensor that `module.parameters()` then `module.buffers()` yield."""
        found = []
        for table, named in (("_parameters", module.named_parameters()), ("_buffers", module.named_buffers())):
            for name, _ in named:
                owner, _, key = name.rpartition(".")
                found.append((getattr(module.get_submodule(owner), table), key))
        return found

    @staticmethod
    def _tensors(pairs: list[tuple[Slot, Slot]]) -> tuple[list[Tensor], list[Tensor]]:
        return [a[k] for (a, k), _ in pairs], [c[k] for _, (c, k) in pairs]

    def floats(self) -> tuple[list[Tensor], list[Tensor]]:
        """The floating-point tensors: averaged, current."""
        return self._tensors(self._floats)

    def others(self) -> tuple[list[Tensor], list[Tensor]]:
        """The rest (integer counters): averaged, current."""
        return self._tensors(self._others)


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
