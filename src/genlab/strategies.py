"""Distributed strategies for models that alternate optimizer steps (GAN, CycleGAN).

Lightning's DDP wraps the whole LightningModule in one DistributedDataParallel. A G step leaves D's
parameters without gradients and a D step G's, so that needs `find_unused_parameters=True`: one
extra autograd-graph traversal per backward. `SeparateDDPStrategy` instead wraps each network the
module names in `ddp_modules` in its own DDP with `find_unused_parameters=False` (what StudioGAN
does) and leaves the LightningModule itself unwrapped.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytorch_lightning as pl
import torch.distributed as dist
from lightning_fabric.utilities.seed import _collect_rng_states, _set_rng_states
from pytorch_lightning.strategies import DDPStrategy
from torch import nn
from torch.nn.parallel import DistributedDataParallel

#: Bucket size for broadcasting buffers (DDP's own default for that broadcast).
_BUFFER_BUCKET_BYTES = 250 * 1024 * 1024
#: DDP's switch for its per-forward buffer broadcast: renamed in recent torch (the old name warns).
_FORWARD_BUFFER_SYNC = (
    "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters else "broadcast_buffers"
)


def enable_unused_parameter_detection(trainer: pl.Trainer) -> None:
    """Let Lightning's plain DDP strategies (`ddp`, `ddp_spawn`) run alternating G/D steps.

    Each backward of a GAN step leaves one network without gradients; DDP without
    `find_unused_parameters` then raises. Turn detection on unless the user (or
    `SeparateDDPStrategy`, which needs none) set it explicitly.
    Must run before the strategy wraps the model (LightningModule.setup does).
    """
    strategy = trainer.strategy
    if isinstance(strategy, DDPStrategy):
        # DDPStrategy keeps its DistributedDataParallel kwargs here and has no public setter.
        strategy._ddp_kwargs.setdefault("find_unused_parameters", True)


def ddp_module_names(module: nn.Module) -> list[str]:
    """The submodules `module` asks to have wrapped separately (its `ddp_modules`; empty: none)."""
    return list(getattr(module, "ddp_modules", ()))


def _set_submodule(root: nn.Module, name: str, value: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    # Assign through _modules: nn.Module.__setattr__ would also work, but this keeps the entry's
    # position, so state_dict key order never changes.
    root.get_submodule(parent)._modules[leaf] = value


class NetDDP(DistributedDataParallel):
    """DistributedDataParallel that passes unknown attributes through to the wrapped net, so model
    code such as `self.generator.latent_dim` works while the wrapper stands in for the net."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


class SeparateDDPStrategy(DDPStrategy):
    """DDP with one DistributedDataParallel per network listed in the LightningModule's `ddp_modules`.

    - The LightningModule is never wrapped and its networks stay in place: during `training_step`
      (and only then) each listed attribute points at its DDP wrapper. Checkpoints, validation,
      sampling and callbacks see the plain networks, so state-dict keys match single-device runs
      (no `module.` prefix) and rank-0-only sampling triggers no collective.
    - `find_unused_parameters=False`: every backward reaches all parameters of the networks whose
      optimizer is toggled on; the others have `requires_grad=False` (`toggled_optimizer`), so their
      reducers see no gradient and stay idle.
    - Buffers (BatchNorm statistics) follow rank 0, as with Lightning's DDP: they are broadcast once
      at the start of every training step. DDP's own per-forward broadcast (`broadcast_buffers=True`)
      is off because two D forwards (real, fake) before one backward would then overwrite buffers
      that the first forward saved for backward (an in-place version error on recent torch).
    - A module without `ddp_modules` (VAE, PixelRNN) gets Lightning's standard whole-module DDP.
    """

    def __init__(self, *args: Any, timeout: float | timedelta | None = None, **kwargs: Any) -> None:
        # Explicit, so that `enable_unused_parameter_detection` (GAN.setup) leaves it off.
        kwargs.setdefault("find_unused_parameters", False)
        # Seconds from the config (`trainer.strategy.timeout`): how long a collective waits for a
        # silent peer before this rank fails; None keeps torch's default (30 minutes).
        if timeout is not None:
            kwargs["timeout"] = timeout if isinstance(timeout, timedelta) else timedelta(seconds=float(timeout))
        super().__init__(*args, **kwargs)
        self._nets: dict[str, nn.Module] = {}
        self._wrappers: dict[str, NetDDP] = {}

    def setup_environment(self) -> None:
        # Lightning re-seeds every rank here. Ranks that re-run the command (popen) or are forked
        # already share the seeded RNG state the command reached; keeping it makes training draw
        # the same numbers as a single-device run of the same command (spawned ranks need the seed).
        states = _collect_rng_states() if self._start_method in ("popen", "fork") else None
        super().setup_environment()
        if states is not None:
            _set_rng_states(states)

    def configure_ddp(self) -> None:
        module = self.lightning_module
        names = ddp_module_names(module)
        if not names:
            super().configure_ddp()  # standard whole-module DDP, with the user's kwargs
            return
        device_ids = self.determine_ddp_device_ids()
        kwargs = {_FORWARD_BUFFER_SYNC: False, **self._ddp_kwargs}  # see broadcast_buffers_from_rank_zero
        for name in names:
            net = module.get_submodule(name)
            self._nets[name] = net
            self._wrappers[name] = NetDDP(net, device_ids=device_ids, **kwargs)

    @contextlib.contextmanager
    def wrapped_nets(self) -> Iterator[None]:
        """Point the module's listed attributes at their DDP wrappers for the block."""
        module = self.lightning_module
        for name, wrapper in self._wrappers.items():
            _set_submodule(module, name, wrapper)
        try:
            yield
        finally:
            for name, net in self._nets.items():
                _set_submodule(module, name, net)

    def broadcast_buffers_from_rank_zero(self) -> None:
        """What DDP's forward does with buffers, once per training step instead of once per forward."""
        buffers = [b for net in self._nets.values() for b in net.buffers()]
        if buffers and dist.is_initialized() and dist.get_world_size() > 1:
            dist._broadcast_coalesced(dist.group.WORLD, buffers, _BUFFER_BUCKET_BYTES, 0)

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        if not self._wrappers:
            return super().training_step(*args, **kwargs)
        self.broadcast_buffers_from_rank_zero()
        with self.precision_plugin.train_step_context(), self.wrapped_nets():
            return self.lightning_module.training_step(*args, **kwargs)

    def teardown(self) -> None:
        self._nets.clear()
        self._wrappers.clear()
        super().teardown()


def close_process_group() -> None:
    """Destroy the DDP process group, if any: before the next sweep job in the same process (which
    must not inherit it) and before the interpreter exits. Left to exit-time destructors, gloo's
    threads now and then abort a rank after its training has finished ("terminate called without an
    active exception", exit code -6: seen twice in CI on 2-process CPU runs), failing the run."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
