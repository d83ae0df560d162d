"""Where the default callbacks' time goes, measured inside a real run rather than in a tight loop.

`overhead.py` gives the default callbacks and logger as one number on top of the bare trainer. This
script runs the same default loop (`overhead.genlab_default`: width-4 DCGAN nets, 8 px digits,
batch 16, one thread) and times, in place, every callback hook that genlab's default config
defines, the module's `log_train` and its whole `training_step`, then the same `training_step` under
the bare trainer, and the pieces of Lightning's own per-batch work around it (LOOP_PIECES: its
fetcher, the batch's way to the device, the loop's bookkeeping). Costs are per training batch: a
hook's time over the run divided by the run's batches, so hooks that run once an epoch (or once a
run: setup, the final checkpoint and grid) are spread over them; the steady-state whole batch, as `overhead.py` times it, leaves the first epoch
and the run's end out.

In place matters: a hook that takes 3 us in a `timeit` loop takes 10-20 us between two training
steps, whose tensors and code have pushed its own out of the caches.

    python benchmarks/hook_costs.py [--steps 1600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loops.fetchers import _PrefetchDataFetcher
from pytorch_lightning.loops.training_epoch_loop import _TrainingEpochLoop
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.trainer.connectors.logger_connector.logger_connector import _LoggerConnector

import genlab.train
from genlab.data import DigitsDataModule
from genlab.models.base import GenerativeModule
from genlab.models.gan import GAN
from overhead import genlab_bare, genlab_default

HOOKS = [name for name in dir(pl.Callback) if name.startswith("on_") or name in ("setup", "teardown")]
#: Lightning's per-batch work outside training_step and the hooks (Lightning 2.6's private classes).
LOOP_PIECES = [
    (_TrainingEpochLoop, "advance"),  # the whole batch but on_advance_end: fetch, transfer, hooks, training_step
    (_PrefetchDataFetcher, "__next__"),  # the DataLoader's next batch, and the fetcher's look-ahead
    (GenerativeModule, "_on_before_batch_transfer"),
    (SingleDeviceStrategy, "batch_to_device"),
    (_TrainingEpochLoop, "_build_kwargs"),  # reads training_step's signature
    (_LoggerConnector, "on_batch_start"),
    (_LoggerConnector, "on_batch_end"),
    (_LoggerConnector, "update_train_step_metrics"),
    (_TrainingEpochLoop, "on_advance_end"),  # whether to validate, LR schedulers, loggers' save
]


class Clock:
    """Seconds and calls per name, accumulated by the wrappers below."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)  # Lightning reads training_step's signature through __wrapped__
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1

        return timed

    def time_callback(self, callback: pl.Callback) -> pl.Callback:
        """Times every hook the callback's class defines (the instance's attributes shadow its methods)."""
        for hook in HOOKS:
            if getattr(type(callback), hook, None) is not getattr(pl.Callback, hook):
                setattr(callback, hook, self.wrap(f"{type(callback).__name__}.{hook}", getattr(callback, hook)))
        return callback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1600, help="G+D steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each loop; the table shows the median")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dm = DigitsDataModule(image_size=8, batch_size=16)
    dm.setup()
    clock = Clock()
    instantiate_group = genlab.train.instantiate_group
    genlab.train.instantiate_group = lambda group: [clock.time_callback(c) if isinstance(c, pl.Callback) else c for c in instantiate_group(group)]
    GAN.training_step = clock.wrap("GAN.training_step", GAN.training_step)
    GenerativeModule.log_train = clock.wrap("GenerativeModule.log_train", GenerativeModule.log_train)
    for owner, name in LOOP_PIECES:
        setattr(owner, name, clock.wrap(f"{owner.__name__}.{name}", getattr(owner, name)))
    runs: dict[str, defaultdict[str, list[float]]] = {"default": defaultdict(list), "bare": defaultdict(list)}
    calls: dict[str, int] = {}  # per run
    with tempfile.TemporaryDirectory() as tmp:
        genlab_bare(dm, 4, 30, tmp)  # warm-up
        for _ in range(args.repeats):
            for name, loop in (("default", genlab_default), ("bare", genlab_bare)):
                clock.seconds.clear()
                clock.calls.clear()
                seconds_per_batch = loop(dm, 4, args.steps, tmp)
                runs[name]["whole batch (steady state)"].append(seconds_per_batch * 1e6)
                for key, seconds in clock.seconds.items():
                    runs[name][key].append(seconds * 1e6 / args.steps)
                    calls[key] = clock.calls[key]
    default, bare = runs["default"], runs["bare"]
    print(f"torch {torch.__version__}, 1 thread, {args.steps} G+D steps per run, median of {args.repeats} runs, us per training batch")
    print("| what | calls a run | default | bare |\n|---|---|---|---|")
    for key in sorted(default, key=lambda k: -statistics.median(default[k])):
        if statistics.median(default[key]) >= 0.05:
            other = f"{statistics.median(bare[key]):.1f}" if key in bare else ""
            print(f"| {key} | {calls.get(key, '')} | {statistics.median(default[key]):.1f} | {other} |")


if __name__ == "__main__":
    main()
