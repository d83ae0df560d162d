"""Lightning's hook dispatch without its per-call costs when nothing is profiling.

Lightning calls ~8 callback hook points and ~11 module hooks per GAN batch. For every callback at
every point, `pytorch_lightning.trainer.call._call_callback_hooks` formats a debug message and a
profiler action name and enters the profiler's context manager, even when the profiler is the
do-nothing `PassThroughProfiler` and the callback inherits the hook as Callback's empty method:
measured 110 us (bare trainer) to 210 us (default callbacks) per batch on a 4-5 ms CPU step
(medians; benchmarks/README.md, issue 17, fourth round). On a GPU, where a small step takes well under a
millisecond, that host time decides the speed.

`install()` swaps in two functions that behave the same, hook for hook:

- with a profiler (`trainer.profiler=simple|advanced|pytorch`), or while Lightning's logger is at
  DEBUG, they hand over to Lightning's own functions, so profiles and debug logs are complete;
- otherwise callback hooks go only to the callbacks that define them (a hook set on the instance,
  or a method other than Callback's empty one: skipping an empty method changes nothing), and module
  hooks are called without the profiler's context. `_current_fx_name` is set and restored as before.

The callbacks defining each hook are found once per trainer and hook, and again whenever
`trainer.callbacks` changes. `install()` is idempotent; GenerativeModule.setup calls it.

`direct_steps_allowed` says when a manual-optimization step may also skip Lightning's backward and
optimizer-step wrappers (GenerativeModule.zero_grad_backward_step): while genlab's dispatch is installed,
on one device, with no gradient scaler, no profiler and no callback defining the hooks those
wrappers call. Lightning's step counting (global_step) is kept.

`move_batch` brings a batch to the device as Lightning's default data hooks would, without their
per-batch lookup between module and datamodule, where neither overrides them (`batch_hooks_inert`).

`validation_needed` says, from the same view of which callbacks define which hooks, whether any
callback needs this epoch's validation (GenerativeModule skips a GAN's when none does).
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.apply_func import _BLOCKING_DEVICE_TYPES
from pytorch_lightning import Callback
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.profilers import PassThroughProfiler
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.trainer import call
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import Tensor

_lightning_callback_hooks = call._call_callback_hooks
_lightning_module_hook = call._call_lightning_module_hook
_log = logging.getLogger(call.__name__)


def _empty(*args: Any, **kwargs: Any) -> None:
    """The body of Callback's hooks."""


def does_nothing(hook: Any) -> bool:
    """Whether a function's body is empty (a docstring at most), like Callback's hooks."""
    code, empty = getattr(hook, "__code__", None), _empty.__code__
    return code is not None and code.co_code == empty.co_code and code.co_consts[1:] == empty.co_consts[1:]


def defines(callback: Callback, hook_name: str) -> bool:
    """Whether calling `callback`'s hook can do anything: set on the instance, overridden, or non-empty."""
    if not callable(getattr(callback, hook_name)):  # Lightning skips those too (and raises if there is none)
        return False
    if hook_name in vars(callback):
        return True
    method = getattr(type(callback), hook_name, None)
    return method is not getattr(Callback, hook_name, None) or not does_nothing(method)


def profiling(trainer: pl.Trainer) -> bool:
    """Whether a profiler or Lightning's debug log wants every hook call: then Lightning dispatches."""
    return type(trainer.profiler) is not PassThroughProfiler or _log.isEnabledFor(logging.DEBUG)


def _callbacks_defining(trainer: pl.Trainer, hook_name: str) -> list[Callback]:
    callbacks = tuple(trainer.callbacks)
    cache = trainer.__dict__.setdefault("_genlab_hook_callbacks", {})
    hit = cache.get(hook_name)
    if hit is None or hit[0] != callbacks:
        hit = cache[hook_name] = (callbacks, [cb for cb in callbacks if defines(cb, hook_name)])
    return hit[1]


def call_callback_hooks(trainer: pl.Trainer, hook_name: str, *args: Any, monitoring_callbacks: bool | None = None, **kwargs: Any) -> None:
    """`pytorch_lightning.trainer.call._call_callback_hooks`, calling only callbacks that define the hook."""
    if monitoring_callbacks is not None or profiling(trainer):
        return _lightning_callback_hooks(trainer, hook_name, *args, monitoring_callbacks=monitoring_callbacks, **kwargs)
    callbacks = _callbacks_defining(trainer, hook_name)
    pl_module = trainer.lightning_module
    if pl_module:
        previous = pl_module._current_fx_name
        pl_module._current_fx_name = hook_name
    for callback in callbacks:
        getattr(callback, hook_name)(trainer, pl_module, *args, **kwargs)
    if pl_module:
        pl_module._current_fx_name = previous  # restored for nested hooks, as Lightning does
    return None


def call_module_hook(trainer: pl.Trainer, hook_name: str, *args: Any, pl_module: pl.LightningModule | None = None, **kwargs: Any) -> Any:
    """`pytorch_lightning.trainer.call._call_lightning_module_hook` without the profiler's context."""
    if profiling(trainer):
        return _lightning_module_hook(trainer, hook_name, *args, pl_module=pl_module, **kwargs)
    pl_module = pl_module or trainer.lightning_module
    if pl_module is None:
        raise TypeError("No `LightningModule` is available to call hooks on.")
    fn = getattr(pl_module, hook_name)
    if not callable(fn):
        return None
    previous = pl_module._current_fx_name
    pl_module._current_fx_name = hook_name
    output = fn(*args, **kwargs)
    pl_module._current_fx_name = previous
    return output


#: The hooks Lightning's `manual_backward` and `LightningOptimizer.step` call on callbacks and the module.
STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def direct_steps_allowed(trainer: pl.Trainer) -> bool:
    """Whether `manual_backward` + `LightningOptimizer.step` may be `loss.backward()` + the raw step:
    genlab's dispatch installed, no profiler, one device (DDP's strategy prepares every backward),
    full precision or bf16 without a gradient scaler, and no callback defining STEP_HOOKS (the
    module's own hooks are the caller's to check)."""
    plugin = trainer.precision_plugin
    return (
        call._call_callback_hooks is call_callback_hooks
        and type(trainer.strategy) is SingleDeviceStrategy
        and (type(plugin) is Precision or (type(plugin) is MixedPrecision and plugin.scaler is None))
        and not profiling(trainer)
        and not any(_callbacks_defining(trainer, hook) for hook in STEP_HOOKS)
    )


#: The data hooks Lightning calls on every batch, on the datamodule where it overrides them, else on the module.
BATCH_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")


def batch_hooks_inert(module: pl.LightningModule, trainer: pl.Trainer) -> bool:
    """Whether the batches' way to the device may skip Lightning's dispatch of BATCH_HOOKS: genlab's
    dispatch installed, and neither the module nor the trainer's datamodule overrides them."""
    datamodule = trainer.datamodule
    return call._call_lightning_module_hook is call_module_hook and not any(
        is_overridden(hook, module) or (datamodule is not None and is_overridden(hook, datamodule)) for hook in BATCH_HOOKS
    )


def move_batch(batch: Any, device: Any) -> Any | None:
    """A tuple or list of tensors on `device`, each moved as Lightning's default
    `transfer_batch_to_device` moves it (non-blocking except to Lightning's blocking device types);
    None for any other batch, which is then Lightning's to move. Lightning looks each of the three
    BATCH_HOOKS up between module and datamodule and dispatches it on every batch: ~100 us a batch
    on a CPU host (issue 17)."""
    if type(batch) not in (tuple, list) or any(type(t) is not Tensor for t in batch):
        return None
    non_blocking = isinstance(device, torch.device) and device.type not in _BLOCKING_DEVICE_TYPES
    return type(batch)(t.to(device, non_blocking=non_blocking) for t in batch)


def install() -> None:
    """Route Lightning's loops through the functions above (every loop calls them as `call.<name>`)."""
    call._call_callback_hooks = call_callback_hooks
    call._call_lightning_module_hook = call_module_hook


def uninstall() -> None:
    """Lightning's own dispatch again."""
    call._call_callback_hooks = _lightning_callback_hooks
    call._call_lightning_module_hook = _lightning_module_hook


#: The callback hooks a validation loop calls.
VALIDATION_HOOKS = (
    "on_validation_start",
    "on_validation_epoch_start",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_validation_epoch_end",
    "on_validation_end",
)


def validation_needed(trainer: pl.Trainer) -> bool:
    """Whether some callback needs this epoch's validation, for a module whose validation computes
    nothing itself (a GAN's; GenerativeModule.fit_validation_batches).

    A callback says so with a method `needs_validation(trainer) -> bool` (SampleMetricsCallback: when
    its metrics are due; the progress bars, checkpoints, early stopping and Optuna's pruning: never
    or only where they act at a validation's end). A callback that defines a validation hook without
    that method is taken to need every validation, as Lightning would give it."""
    for callback in trainer.callbacks:
        needs = getattr(callback, "needs_validation", None)
        if needs is not None:
            if needs(trainer):
                return True
        elif any(defines(callback, hook) for hook in VALIDATION_HOOKS):
            return True
    return False
