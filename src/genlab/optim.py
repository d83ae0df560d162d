"""Optimizers on their fastest kernel: one fused update for all of a network's tensors per step."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch

try:  # the device types with fused optimizer kernels (torch keeps the list private)
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices as _fused_devices
except ImportError:  # pragma: no cover - older or newer torch

    def _fused_devices() -> list[str]:
        return ["cpu", "cuda"]


def build_optimizer(
    factory: Callable[..., torch.optim.Optimizer], params: Iterable[torch.nn.Parameter], fuse: bool = True, **kwargs: Any
) -> torch.optim.Optimizer:
    """`factory(params, **kwargs)`, with `fused=True` where `fuse`, the optimizer has a fused kernel for
    these parameters and the config chose neither `fused` nor `foreach`.

    PyTorch's default on the CPU is a loop of small ops per tensor: for a DCGAN generator of width 32 an
    Adam step takes ~440 us that way and ~200 us fused (`benchmarks/README.md`, issue 17), which at GPU
    step sizes is most of a step's host time. The results agree with the per-tensor loop to float
    rounding; `model.optimizer_g.fused=false` (or `foreach=...`) keeps PyTorch's choice. A resumed run
    keeps the setting its checkpoint was written with (param_groups are restored as saved).
    """
    params = list(params)
    chosen = getattr(factory, "keywords", {}).keys() | kwargs.keys()
    optimizer_class = getattr(factory, "func", factory)
    if fuse and not chosen & {"fused", "foreach"} and _fusable(optimizer_class, params):
        kwargs["fused"] = True
    return factory(params, **kwargs)


def _fusable(optimizer_class: Any, params: list[torch.nn.Parameter]) -> bool:
    try:
        accepts_fused = "fused" in inspect.signature(optimizer_class).parameters
    except (TypeError, ValueError):  # a factory without a signature: leave it alone
        return False
    devices = _fused_devices()
    return accepts_fused and bool(params) and all(p.device.type in devices and p.is_floating_point() for p in params)
