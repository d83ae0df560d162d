"""Pruning benchmark (issue 15): the same 8-trial VAE sweep with and without the median pruner.

Half the search space learns nothing (learning rates 1e-9 .. 3e-8), half learns (3e-4 .. 2.4e-3).
The grid sampler runs all 8 trials in an order fixed by its seed, 8 epochs each, val/nll every epoch;
the pruner is the presets' median pruner with n_startup_trials=1 and n_warmup_steps=1 (prunes from
the second evaluation on). Reported per seed: epochs trained (evaluations reported), CPU time of the
sweep process (user + system), wall time, best trial and its val/nll.

    OMP_NUM_THREADS=1 python benchmarks/pruning_sweep.py --seeds 0 1 2 [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = "model.lr=choice(1e-9,3e-9,1e-8,3e-8,3e-4,6e-4,1.2e-3,2.4e-3)"
PRUNERS = {"none": "none", "median": "{name:median,n_startup_trials:1,n_warmup_steps:1}"}
VAE = [
    "model=vae",
    "model.nll_samples=2",
    "dataset.batch_size=32",
    "+trainer.limit_train_batches=8",
    "+trainer.limit_val_batches=2",
    "~callbacks.sample_metrics",
]


def command(sweep_dir: Path, seed: int, pruner: str, epochs: int = 8) -> list[str]:
    """genlab-train's arguments for one sweep (the slow test in tests/sweeps/test_pruning.py runs the same)."""
    return [
        "-m",
        "hydra/sweeper=genlab_optuna",
        "hydra/sweeper/sampler=grid",
        f"hydra.sweeper.sampler.seed={seed}",
        GRID,
        "hydra.sweeper.n_trials=8",
        f"hydra.sweeper.storage=sqlite:///{sweep_dir / 'optuna.db'}",
        "hydra.sweeper.study_name=pruning",
        f"hydra.sweeper.pruner={PRUNERS[pruner]}",
        "hydra.sweeper.report=false",
        *VAE,
        f"trainer.max_epochs={epochs}",
        f"hydra.sweep.dir={sweep_dir}",
    ]


def run(sweep_dir: Path, seed: int, pruner: str) -> dict:
    import optuna

    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "genlab.train", *command(sweep_dir, seed, pruner)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"sweep {sweep_dir} failed:\n{result.stderr[-3000:]}")
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - start
    study = optuna.load_study(study_name="pruning", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    return {
        "epochs": sum(len(t.intermediate_values) for t in study.trials),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "wall_s": wall,
        "best": (study.best_trial.params["model.lr"], study.best_value),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = args.out or Path(tempfile.mkdtemp(prefix="pruning_sweep_"))
    print("| grid seed | pruner | epochs | pruned trials | CPU s | wall s | best lr | best val/nll |")
    print("|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        for pruner in PRUNERS:
            r = run(out / f"seed{seed}_{pruner}", seed, pruner)
            print(
                f"| {seed} | {pruner} | {r['epochs']} | {r['pruned']} | {r['cpu_s']:.1f} | {r['wall_s']:.1f} | {r['best'][0]} | {r['best'][1]:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
