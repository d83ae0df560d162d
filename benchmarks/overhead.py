"""Framework overhead: genlab's GAN training vs a plain PyTorch loop with the same nets and data.

All loops train the same DCGAN nets (genlab.nets.dcgan) with the same optimizers, batches, loss,
EMA update and number of steps; only the loop around them differs:

- plain: the loop a researcher writes by hand, with Adam on its fused kernel as genlab builds it
  (and once more with PyTorch's default Adam, a per-tensor loop on the CPU, to show what that costs);
- genlab bare: genlab's GAN module under a bare Lightning Trainer (no logger, checkpoints or
  progress bar), i.e. the cost of the module and of Lightning's loop;
- genlab default: what `genlab-train` builds (conf/callbacks/default.yaml without the FID callback,
  the CSV logger, the progress bar, validation with its grid), i.e. the cost of the defaults on top;
- both genlab loops again with Lightning's own hook dispatch instead of genlab.dispatch, so that what
  it saves is measured within one run.

Reported per loop: ms per batch in steady state (after the first epoch, without what runs once at
the end; best of --repeats, loops interleaved so load drift hits all alike), the ratio to the plain
loop, the targets' ratios paired within each repeat (median and quartiles), the host overhead in
microseconds per batch, and what one grid and one last.ckpt cost each time they are written (by
default a grid at most every 30 s, last.ckpt every 300 s and at the end). With tiny nets on one
thread a step takes ~2 ms, the stand-in for a fast accelerator where fixed per-step costs decide.

    python benchmarks/overhead.py --size small            # width 4, 8 px, batch 16, 1 thread
    python benchmarks/overhead.py --size medium           # width 32, 16 px, batch 64, 1 thread
    python benchmarks/overhead.py --size standard         # width 32, 32 px, batch 64, 2 threads
    python benchmarks/overhead.py --size small --profile bare   # where genlab's time goes (pyinstrument)
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from functools import partial

import pytorch_lightning as pl
import torch

from genlab import dispatch
from genlab.data import DigitsDataModule
from genlab.losses import ADVERSARIAL_LOSSES
from genlab.models.ema import EMA
from genlab.models.gan import GAN
from genlab.nets.dcgan import Discriminator, Generator

#: name: (width, image size, batch size, torch threads, steps)
SIZES = {"small": (4, 8, 16, 1, 400), "medium": (32, 16, 64, 1, 200), "standard": (32, 32, 64, 2, 60)}
LATENT = 64


def make_nets(width: int, image_size: int) -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    return Generator(latent_dim=LATENT, image_size=image_size, width=width), Discriminator(image_size=image_size, width=width)


def infinite(loader):
    while True:
        yield from loader


def plain_loop(dm: DigitsDataModule, width: int, steps: int, tmp: str, fused: bool = True) -> float:
    """The loop a researcher writes by hand. Returns seconds per batch.

    `fused`: Adam on its fused kernel, as genlab builds it (genlab.optim), so that the ratio measures
    the loop around the same work; `fused=False` is PyTorch's default Adam (a per-tensor loop on the CPU).
    """
    g, d = make_nets(width, dm.image_size)
    ema = EMA(g, 0.999)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=fused)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=fused)
    loss = ADVERSARIAL_LOSSES["non_saturating"]
    batches = infinite(dm.train_dataloader())
    start = time.perf_counter()
    for _ in range(steps):
        real, _ = next(batches)
        with torch.no_grad():
            fake = g(torch.randn(real.shape[0], LATENT))
        d_loss = loss.discriminator(d(real), d(fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        d.requires_grad_(False)
        g_loss = loss.generator(d(g(torch.randn(real.shape[0], LATENT))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        ema.update(g)
    return (time.perf_counter() - start) / steps


class Timer(pl.Callback):
    """Times training in steady state: the batches from the second epoch's first to the last one,
    with every validation and epoch end in between. Left out: Trainer start-up, the sanity check,
    the first epoch (its first grid and warm-up) and what runs once when training ends (the final
    last.ckpt and grid): costs per run, not per step, which `event_costs` reports."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.batches = 0
        self.last_batch_end = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.start is None and trainer.current_epoch >= 1:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.start is not None:
            self.batches += 1
            self.last_batch_end = time.perf_counter()

    @property
    def seconds_per_batch(self) -> float:
        return (self.last_batch_end - self.start) / self.batches if self.batches else math.nan


def bare_trainer(steps: int, timer: Timer, tmp: str, max_epochs: int = -1) -> pl.Trainer:
    """`steps` G+D steps (0: no step limit, then `max_epochs` stops it)."""
    return pl.Trainer(
        max_steps=2 * steps if steps else -1,  # global_step counts both optimizers' steps
        max_epochs=max_epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[timer],
        default_root_dir=tmp,
        accelerator="cpu",
        devices=1,
    )


def genlab_bare(dm: DigitsDataModule, width: int, steps: int, tmp: str) -> float:
    """genlab's GAN module under a bare Trainer. Returns seconds per batch."""
    g, d = make_nets(width, dm.image_size)
    adam = partial(torch.optim.Adam, betas=(0.5, 0.999))
    model = GAN(g, d, adam, adam, lr_g=2e-4, lr_d=2e-4, ema_decay=0.999)
    timer = Timer()
    bare_trainer(steps, timer, tmp).fit(model, datamodule=dm)
    return timer.seconds_per_batch


def genlab_default(
    dm: DigitsDataModule, width: int, steps: int, tmp: str, extra: tuple[str, ...] = (), event_costs: dict[str, list[float]] | None = None
) -> float:
    """What genlab-train builds from its default config (the FID callback left out), same nets;
    `extra`: more overrides (`--ablate` leaves out one callback or the logger at a time)."""
    from genlab.callbacks import AtomicCheckpointIO, SampleGrid
    from genlab.configs import compose_config, config_dir
    from genlab.errors import instantiate
    from genlab.train import build_model, instantiate_group

    overrides = [
        f"model.generator.width={width}",
        f"model.discriminator.width={width}",
        "model.monitor=null",  # no val/fid without the FID callback
        f"dataset.image_size={dm.image_size}",
        f"dataset.batch_size={dm.batch_size}",
        f"paths.output_dir={tempfile.mkdtemp(dir=tmp)}",
        "~callbacks.sample_metrics",
        *(["~recipe"] if (config_dir() / "recipe").is_dir() else []),  # the bare GAN, not the digits quality recipe
        f"trainer.max_steps={2 * steps}",
        "trainer.max_epochs=-1",
        "trainer.accelerator=cpu",
        "++trainer.enable_model_summary=false",
        *extra,
    ]
    cfg = compose_config("train", overrides)
    model = build_model(cfg)
    # The same start as the plain and bare loops: both nets and the EMA copy (until 2026-12-01 only G,
    # so the default loop trained another D than the loops it is compared with).
    generator, discriminator = make_nets(width, dm.image_size)
    model.generator.load_state_dict(generator.state_dict())
    model.discriminator.load_state_dict(discriminator.state_dict())
    model.generator_ema.module.load_state_dict(generator.state_dict())
    timer = Timer()
    callbacks = [*instantiate_group(cfg.callbacks), timer]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=instantiate_group(cfg.logger), plugins=[AtomicCheckpointIO()])
    trainer.fit(model, datamodule=dm)
    if event_costs is not None:  # what a grid and a last.ckpt cost each time they are written
        grid = next(c for c in callbacks if isinstance(c, SampleGrid))
        for name, write in (("grid", lambda: grid.write(trainer, model, 999)), ("last.ckpt", lambda: trainer.save_checkpoint(f"{tmp}/x.ckpt"))):
            start = time.perf_counter()
            write()
            event_costs.setdefault(name, []).append(time.perf_counter() - start)
    return timer.seconds_per_batch


def with_lightning_dispatch(loop):
    """`loop` under Lightning's own hook dispatch instead of genlab.dispatch (which GenerativeModule.setup installs)."""

    def run(*args, **kwargs) -> float:
        install = dispatch.install
        dispatch.install = dispatch.uninstall
        try:
            return loop(*args, **kwargs)
        finally:
            dispatch.install = install
            install()

    return run


LOOPS = {
    "plain PyTorch loop": plain_loop,
    "plain PyTorch loop, PyTorch's default Adam": partial(plain_loop, fused=False),
    "genlab (bare trainer)": genlab_bare,
    "genlab (default callbacks+logger)": genlab_default,
    # The same two with Lightning's hook dispatch: what genlab.dispatch saves, measured in the same run.
    "genlab (bare trainer), Lightning's hook dispatch": with_lightning_dispatch(genlab_bare),
    "genlab (default callbacks+logger), Lightning's hook dispatch": with_lightning_dispatch(genlab_default),
}
PROFILE = {"plain": plain_loop, "bare": genlab_bare, "default": genlab_default}
#: --loops names: the loops above by their short names.
SHORT = {"plain": "plain PyTorch loop", "bare": "genlab (bare trainer)", "default": "genlab (default callbacks+logger)"}


def selected(names: str) -> list[str]:
    """--loops' comma-separated short names as LOOPS keys; "plain" is always timed (the ratios' base)."""
    unknown = sorted(set(names.split(",")) - set(SHORT))
    if unknown:
        raise SystemExit(f"--loops {names}: unknown {', '.join(unknown)}; expected a subset of {', '.join(SHORT)}")
    return [SHORT[name] for name in SHORT if name in {"plain", *names.split(",")}]


def paired(results: dict[str, list[float]]) -> str:
    """The targets' ratios taken within each repeat, where the loops ran back to back, so that load
    drift between repeats cancels: bare / plain and default over bare, median (quartiles)."""

    def ratios(numerator: str, denominator: str) -> str:
        values = [a / b for a, b in zip(results[SHORT[numerator]], results[SHORT[denominator]], strict=True)]
        q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        if numerator == "plain":
            return f"bare / plain {median:.3f} ({q1:.3f} to {q3:.3f})"
        return f"default over bare {(median - 1) * 100:+.1f}% ({(q1 - 1) * 100:+.1f} to {(q3 - 1) * 100:+.1f}%)"

    parts = [ratios(a, b) for a, b in (("plain", "bare"), ("default", "bare")) if SHORT[a] in results and SHORT[b] in results]
    return "; ".join(parts) or "none (time bare, and plain or default)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--steps", type=int, default=None, help="G+D steps per run (default: per size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", choices=PROFILE, default=None, help="profile one loop with pyinstrument instead")
    parser.add_argument(
        "--loops",
        default=None,
        help=f"comma-separated subset of {', '.join(PROFILE)} (more repeats in the same time; default: all {len(LOOPS)} loops)",
    )
    args = parser.parse_args()
    width, image_size, batch_size, threads, steps = SIZES[args.size]
    steps = args.steps or steps
    torch.set_num_threads(threads)
    dm = DigitsDataModule(image_size=image_size, batch_size=batch_size)
    dm.setup()
    with tempfile.TemporaryDirectory() as tmp:
        if args.profile:
            from pyinstrument import Profiler

            PROFILE[args.profile](dm, width, 50, tmp)  # warm-up
            with Profiler(interval=0.0002) as profiler:
                seconds = PROFILE[args.profile](dm, width, steps, tmp)
            print(f"{args.profile}: {seconds * 1e3:.3f} ms/batch")
            profiler.print(show_all=False, short_mode=False)
            return
        loops = LOOPS if args.loops is None else {name: LOOPS[name] for name in selected(args.loops)}
        results: dict[str, list[float]] = {name: [] for name in loops}
        events: dict[str, list[float]] = {}
        for loop in loops.values():
            loop(dm, width, 30, tmp)  # warm-up: allocator, thread pool, imports
        for _ in range(args.repeats):
            for name, loop in loops.items():
                options = {"event_costs": events} if loop is genlab_default else {}
                results[name].append(loop(dm, width, steps, tmp, **options))
    best = {name: min(values) for name, values in results.items()}
    if any(math.isnan(value) for value in best.values()):
        raise SystemExit(f"--steps {steps}: too few to time a batch after the first epoch ({len(dm.train_dataloader())} batches)")
    plain = best["plain PyTorch loop"]
    print(
        f"--size {args.size}: DCGAN width {width}, digits {image_size} px, batch {batch_size}, {steps} G+D steps, "
        f"best of {args.repeats}, torch {torch.__version__}, {threads} thread(s)"
    )
    print("| loop | ms/batch (best) | all runs | ratio to plain | overhead vs plain, us/batch |\n|---|---|---|---|---|")
    for name, values in results.items():
        runs = ", ".join(f"{v * 1e3:.2f}" for v in values)
        print(f"| {name} | {best[name] * 1e3:.3f} | {runs} | {plain / best[name]:.3f} | {(best[name] - plain) * 1e6:.0f} |")
    bare, default = best.get("genlab (bare trainer)"), best.get("genlab (default callbacks+logger)")
    if bare and default:
        print(f"default callbacks+logger on top of bare: {(default / bare - 1) * 100:.1f}% ({(default - bare) * 1e6:.0f} us/batch)")
    print(f"paired, per repeat (median and quartiles of {args.repeats}): " + paired(results))
    for name in ("genlab (bare trainer)", "genlab (default callbacks+logger)"):
        lightning = best.get(f"{name}, Lightning's hook dispatch")
        if lightning and name in best:
            print(f"{name}: genlab.dispatch saves {(lightning - best[name]) * 1e6:.0f} us/batch ({lightning / best[name]:.3f}x)")
    if events:
        print("each time it is written (best of runs): " + ", ".join(f"{name} {min(v) * 1e3:.1f} ms" for name, v in events.items()))


if __name__ == "__main__":
    main()
