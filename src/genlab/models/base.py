"""What every genlab model shares: the sampling API, the images it shows, its saved config, EMA."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision
from torch import Tensor, nn

from genlab import dispatch
from genlab.contracts import ImageData
from genlab.errors import ConfigError
from genlab.metrics.streams import MetricStream
from genlab.optim import build_optimizer
from genlab.scalars import record_training_scalars

#: torch.compile's modes (`model.compile_mode`), and those that capture CUDA graphs.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


class GenerativeModule(pl.LightningModule):
    """Base LightningModule. Subclasses implement `sample` and may extend `visuals`.

    `monitor` names the validation metric that checkpoints and sweeps rank runs by (None: none yet).
    `genlab_config` is the resolved model/dataset config, saved in every checkpoint so that a
    checkpoint alone rebuilds the model (see genlab.checkpoint).

    Options for the networks named in `ddp_modules` (GAN, CycleGAN), applied when fitting starts:
    `compile` compiles each in place (`nn.Module.compile`: no `_orig_mod.` in checkpoint keys), not
    the LightningModule, in torch.compile's `compile_mode` (one of COMPILE_MODES; "reduce-overhead"
    replays each network's kernels as CUDA graphs, for GPU steps short enough that launching kernels
    from Python is the cost, and marks every training batch as a new step); `channels_last` stores
    4-D weights in channels-last memory format (convolutions then run NHWC); `grad_clip > 0` clips
    each optimizer's gradient norm after AMP unscaling (Trainer's `gradient_clip_val` is unavailable
    in manual optimization).
    """

    #: The data contract (genlab.contracts) whose batches this family consumes; genlab-train checks it at start-up.
    datamodule_type: type = ImageData
    #: The networks that `compile` acts on and that `genlab.strategies.SeparateDDPStrategy` wraps, each in its own DDP.
    ddp_modules: tuple[str, ...] = ()
    #: Validation batches per validation while fitting (None: as the trainer says). A family scored
    #: only from samples, at the end of validation (SampleMetricsCallback), needs the loop and its
    #: epoch-end hooks but none of its batches: 1 spares a pass over the split, and such a fit
    #: validates only at the epochs a callback needs it (genlab.dispatch.validation_needed).
    fit_validation_batches: int | None = None

    def __init__(
        self,
        monitor: str | None = None,
        grad_clip: float = 0.0,
        compile: bool = False,  # noqa: A002 - the config key's name
        channels_last: bool = False,
        compile_mode: str = "default",
    ) -> None:
        super().__init__()
        if compile_mode not in COMPILE_MODES:
            raise ConfigError(f"model.compile_mode={compile_mode!r}: expected one of torch.compile's modes {', '.join(COMPILE_MODES)}")
        self.monitor = monitor
        self.grad_clip, self.compile_nets, self.channels_last = grad_clip, compile, channels_last
        self.compile_mode = compile_mode
        self.genlab_config: dict[str, Any] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets `_current_fx_name` around every hook it calls, ~50 times a batch; nn.Module's
        # __setattr__ looks for parameters, modules and buffers first (~1.2 us a set; 0.1 us here).
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def setup(self, stage: str) -> None:
        dispatch.install()  # Lightning's hooks without per-call profiler costs unless profiling (genlab.dispatch)
        self.__dict__["_world_rank"] = (self.trainer, self.trainer.world_size, self.trainer.global_rank)  # randn_per_rank's, every step
        self.__dict__["_batch_hooks_inert"] = dispatch.batch_hooks_inert(self, self.trainer)  # see _apply_batch_transfer_handler
        if stage != "fit":
            return
        self.__dict__["_step_hooks_inert"] = self.step_hooks_inert()
        self.__dict__["_other_params"] = {}  # toggled_optimizer's lists, built again for this fit's optimizers
        # A validation that computes nothing runs on fit_validation_batches, at the epochs a callback needs it.
        on_demand = self.fit_validation_batches is not None and self.trainer.limit_val_batches != 0  # 0: validation is off
        self.__dict__["_validate_on_demand"] = on_demand
        if on_demand:
            self.trainer.limit_val_batches = self.fit_validation_batches
        if self.channels_last:
            self.to(memory_format=torch.channels_last)  # every 4-D parameter and buffer, EMA copies too
        if self.compile_nets:
            for name in self.ddp_modules:
                self.get_submodule(name).compile(mode=self.compile_mode)

    @property
    def cuda_graphs(self) -> bool:
        """Whether the compiled networks replay CUDA graphs (their outputs live in memory the next replay reuses)."""
        return self.compile_nets and self.compile_mode in CUDA_GRAPH_MODES

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Lightning reads training_step's signature on every batch (does it take batch_idx?), ~20 us
        # from the source; a signature stored on the function (PEP 362's __signature__) is ~7 us.
        step = cls.__dict__.get("training_step")
        if inspect.isfunction(step) and not hasattr(step, "__wrapped__"):
            step.__signature__ = inspect.signature(step)

    # Lightning's private entry points to the three data hooks, which it looks up between module and
    # datamodule and dispatches on every batch. Where neither overrides them (checked at setup),
    # genlab.dispatch.move_batch does what their defaults do to a tuple or list of tensors.
    def _batch_hooks_skippable(self) -> bool:
        return self.__dict__.get("_batch_hooks_inert", False) and not dispatch.profiling(self._trainer)

    def _on_before_batch_transfer(self, batch: Any, dataloader_idx: int = 0) -> Any:
        if self._batch_hooks_skippable():
            return batch
        return super()._on_before_batch_transfer(batch, dataloader_idx)

    def _apply_batch_transfer_handler(self, batch: Any, device: torch.device | None = None, dataloader_idx: int = 0) -> Any:
        if self._batch_hooks_skippable():
            moved = dispatch.move_batch(batch, device or self.device)
            if moved is not None:
                return moved
        return super()._apply_batch_transfer_handler(batch, device, dataloader_idx)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # CUDA graph trees otherwise cannot tell a new step from more calls within the last one.
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        # Once a batch, not per step: callbacks may be added during a fit.
        self.__dict__["_direct_steps"] = self.__dict__.get("_step_hooks_inert", False) and dispatch.direct_steps_allowed(self.trainer)

    def on_train_epoch_start(self) -> None:
        # Lightning validates when limit_val_batches > 0 (read at each epoch's end); set here, once an epoch.
        if self.__dict__.get("_validate_on_demand"):
            self.trainer.limit_val_batches = self.fit_validation_batches if dispatch.validation_needed(self.trainer) else 0

    def on_train_end(self) -> None:
        if self.__dict__.get("_validate_on_demand"):  # a later trainer.validate() gets its batches
            self.trainer.limit_val_batches = self.fit_validation_batches

    def step_hooks_inert(self) -> bool:
        """Whether this module's backward and optimizer-step hooks do nothing: Lightning's empty
        ones, `backward` not overridden, and genlab's gradient clipping off."""
        cls = type(self)
        return (
            cls.backward is pl.LightningModule.backward
            and all(dispatch.does_nothing(getattr(cls, hook)) for hook in ("on_before_backward", "on_after_backward"))
            and cls.on_before_optimizer_step is GenerativeModule.on_before_optimizer_step
            and not self.grad_clip > 0
        )

    @contextlib.contextmanager
    def toggled_optimizer(self, optimizer: Any) -> Iterator[None]:
        """Lightning's: inside, only `optimizer`'s parameters get gradients (the other optimizers'
        have requires_grad=False), restored after. Lightning hashes every parameter of every optimizer
        into a dict at each call (~30 us a GAN step on a CPU host); here the other optimizers'
        parameters are listed once per optimizer and fit (so add_param_group during a fit is not seen)."""
        raw = getattr(optimizer, "optimizer", optimizer)
        cache = self.__dict__.setdefault("_other_params", {})
        others = cache.get(raw)
        if others is None:
            own = {id(p) for group in raw.param_groups for p in group["params"]}
            params = (p for opt in self.trainer.optimizers for group in opt.param_groups for p in group["params"])
            others = cache[raw] = list({id(p): p for p in params if id(p) not in own}.values())
        flipped = [p for p in others if p.requires_grad]
        for p in flipped:
            p.requires_grad = False
        try:
            yield
        finally:
            for p in flipped:
                p.requires_grad = True

    def zero_grad_backward_step(self, optimizer: Any, loss: Tensor) -> None:
        """One update of `optimizer` (a LightningOptimizer) on `loss`: `optimizer.zero_grad(set_to_none=True)`,
        `self.manual_backward(loss)`, then `optimizer.step()`.

        When none of them can do more than set each gradient to None, `loss.backward()` and the raw
        step (one device, no gradient scaler or profiler, no callback or module hook on the way:
        genlab.dispatch.direct_steps_allowed, step_hooks_inert), they run directly. On a CPU host
        Lightning's wrappers cost ~45 us a step, and torch's zero_grad ~50 us around its loop (a
        profiler range and a TorchDynamo guard; benchmarks/README.md, issue 17). Lightning still
        counts the step (global_step, resume).
        """
        if self.__dict__.get("_direct_steps", False):
            raw = optimizer.optimizer
            for group in raw.param_groups:
                for p in group["params"]:
                    p.grad = None
            loss.backward()
            optimizer._on_before_step()  # the manual-optimization loop's step counting, as LightningOptimizer.step calls it
            raw.step()
            optimizer._on_after_step()
        else:
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()

    def make_optimizer(self, factory: Any, params: Any, **kwargs: Any) -> torch.optim.Optimizer:
        """The configured optimizer on its fused kernel (genlab.optim), except with mixed precision and
        `grad_clip`: a fused step unscales 16-mixed gradients itself, after clipping would have to see
        them, so Lightning's mixed-precision plugin refuses to clip for any fused optimizer."""
        trainer = self._trainer  # None when called outside a fit (e.g. to inspect the optimizers)
        mixed = trainer is not None and isinstance(trainer.precision_plugin, MixedPrecision)
        return build_optimizer(factory, params, fuse=not (self.grad_clip > 0 and mixed), **kwargs)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning calls this after unscaling 16-mixed gradients, right before the step.
        if self.grad_clip > 0:
            self.clip_gradients(optimizer, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n new images, float NCHW in [-1, 1]."""
        raise NotImplementedError

    #: Images per row in grids of `visuals` (None: a square grid). CycleGAN: 4 (real, fake, rec, identity).
    visuals_nrow: int | None = None

    def visuals(self, batch: Any, generator: torch.Generator) -> dict[str, Tensor]:
        """Named image batches for grids and dashboards; `batch` is a fixed validation batch."""
        return {"samples": self.sample(len(batch[0]), generator=generator)}

    def metric_streams(self, datamodule: ImageData, split: str, num_samples: int) -> list[MetricStream]:
        """The (generated, real) image sets that sample metrics (FID, KID, ...) compare on `split`.

        Default: `num_samples` draws of `sample` against the split's images. Families whose outputs
        are not unconditional samples override this (CycleGAN: each direction's translations of one
        domain against the other domain's real images, with suffixes `_a2b`/`_b2a`).
        """
        return [
            MetricStream(
                reference=split,
                real=lambda: datamodule.dataset(split).images,
                fake=lambda indices, generator: self.sample(len(indices), generator=generator),
                num_fake=num_samples,
            )
        ]

    def input_domain(self, direction: str | None = None) -> str | None:
        """The data domain whose images `generate` needs as `inputs` (CycleGAN: "A" or "B"); None: it
        needs none. genlab-sample supplies them, so models never build datasets themselves."""
        return None

    def generate(self, num_samples: int, batch_size: int, generator: torch.Generator | None = None, **options: Any) -> dict[str, Tensor]:
        """What genlab-sample writes: named image batches (float NCHW in [-1, 1]), "images" first.

        The default draws `sample` in chunks of `batch_size`. Families that take inputs (CycleGAN's
        `direction`, `inputs`) override it; options a model does not use must be left unset (None).
        """
        unused = sorted(key for key, value in options.items() if value is not None)
        if unused:
            raise ConfigError(f"{', '.join(unused)}: not used by {type(self).__name__} models; leave unset")
        chunks = [self.sample(min(batch_size, num_samples - start), generator=generator).cpu() for start in range(0, num_samples, batch_size)]
        return {"images": torch.cat(chunks)}

    def grid_layout(self, outputs: dict[str, Tensor]) -> tuple[Tensor, int | None]:
        """The images of `generate`'s outputs that grid.png tiles, and its row length (None: square)."""
        return outputs["images"][:64], None

    def log_train(self, scalars: dict[str, Tensor], prog_bar: tuple[str, ...] = ()) -> None:
        """Log a training step's scalars (detached tensors) as `self.log_dict(on_step=True)` would,
        without its per-step host cost: see genlab.scalars. `prog_bar` names those the bar shows."""
        if self._trainer is not None:
            record_training_scalars(self._trainer, scalars, prog_bar)

    def randn_per_rank(self, n: int, *dims: int) -> Tensor:
        """n x dims standard-normal draws on this module's device, different on every DDP rank.

        Every rank runs with the same seed, so a plain `torch.randn` would give all ranks the same
        noise. Draw the whole global batch's noise (world_size x n) and keep this rank's slice: the
        ranks stay in RNG lockstep, and a run matches a single process with the same global batch.
        """
        trainer = self._trainer
        cached = self.__dict__.get("_world_rank", (None,))
        world, rank = (1, 0) if trainer is None else cached[1:] if cached[0] is trainer else (trainer.world_size, trainer.global_rank)
        if world == 1:
            return torch.randn(n, *dims, device=self.device)
        return torch.randn(world * n, *dims, device=self.device)[rank * n : (rank + 1) * n]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.genlab_config is not None:
            checkpoint["genlab"] = self.genlab_config

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A resumed run keeps the config it was started with (its data_dir may have moved, say); the
        # checkpoint's fills in only for a model built without one.
        if self.genlab_config is None:
            self.genlab_config = checkpoint.get("genlab")


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """Put `module` in eval mode for the block, then restore its previous mode."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
