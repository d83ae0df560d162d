"""DDP on CPU (gloo): SeparateDDPStrategy vs Lightning's find_unused_parameters vs one process, at the
same global batch, through genlab-train itself (DCGAN on digits).

Each variant is a real `genlab-train` run; a callback times the training batches after the first
few (start-up, process launch and the sanity check excluded) and writes images/s (global) to a
file. Repeats are interleaved (the machine is shared); best of N is reported.

    python benchmarks/ddp_cpu.py [--batches 40] [--global-batch 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl

WARMUP = 3


class ImagesPerSecond(pl.Callback):
    """Global images/s over the training batches after WARMUP; rank 0 writes it to `path`."""

    def __init__(self, path: str) -> None:
        self.path, self.batches, self.images = path, 0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches += 1
        if self.batches == WARMUP:
            self.start = time.perf_counter()
        elif self.batches > WARMUP:
            self.images += len(batch[0]) * trainer.world_size

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            Path(self.path).write_text(json.dumps(self.images / (time.perf_counter() - self.start)))


VARIANTS = {
    "1 process, batch B": ["trainer=cpu"],
    "2 processes x B/2, SeparateDDPStrategy (trainer=ddp_cpu)": ["trainer=ddp_cpu"],
    "2 processes x B/2, ddp_find_unused_parameters_true": ["trainer=ddp_cpu", "trainer.strategy=ddp_find_unused_parameters_true"],
}


def run(variant: list[str], global_batch: int, batches: int, out: Path, cores: int) -> float:
    devices = 2 if "trainer=ddp_cpu" in variant else 1
    threads = max(1, cores // devices)  # every variant gets the same cores in total
    result = out / "ips.json"
    result.unlink(missing_ok=True)
    args = [
        *variant,
        f"dataset.batch_size={global_batch // devices}",
        "dataset.image_size=32",
        f"trainer.limit_train_batches={batches}",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0",
        "logger=[]",
        "callbacks.sample_metrics=null",
        "callbacks.sample_grid=null",
        "model.monitor=null",
        "trainer.enable_progress_bar=false",
        "+callbacks.ips._target_=ddp_cpu.ImagesPerSecond",
        f"+callbacks.ips.path={result}",
        f"hydra.run.dir={out / 'run'}",
    ]
    # The ranks re-run this command line: PYTHONPATH makes this module importable in each of them.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-m", "genlab.train", *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(result.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2, help="torch threads per run, split among its processes")
    args = parser.parse_args()
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name, variant in VARIANTS.items():
                results[name].append(run(variant, args.global_batch, args.batches, Path(tmp), args.cores))
    print(
        f"DCGAN 32 px digits, global batch {args.global_batch}, {args.batches - WARMUP} timed batches, "
        f"{args.cores} torch threads per run (split among its processes), best of {args.repeats}"
    )
    base = max(results["1 process, batch B"])
    print("| variant | images/s (best) | all runs | ratio to 1 process |\n|---|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {max(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} | {max(values) / base:.3f} |")


if __name__ == "__main__":
    main()
