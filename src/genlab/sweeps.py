"""Hydra multirun support: DDP inside sweep jobs, per-job results, the end-of-sweep summary table."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

RESULT_FILE = "result.json"


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def job_command(local_rank: int) -> tuple[list[str], str]:
    """The command Lightning's DDP launcher starts for rank `local_rank` of the current sweep job:
    genlab-train with exactly this job's overrides, no `-m`, writing into this job's dir."""
    from hydra.utils import get_original_cwd

    hc = HydraConfig.get()
    command = [sys.executable, "-m", "genlab.train", *hc.overrides.task]
    # Quoted like Lightning's own command: run dirs may hold characters the override grammar parses.
    # hydra.mode=RUN: hparams_search presets switch multirun on by themselves.
    command += [
        f'hydra.run.dir="{hc.runtime.output_dir}"',
        f"hydra.job.name=train_ddp_process_{local_rank}",
        "hydra.output_subdir=null",
        "hydra.mode=RUN",
    ]
    return command, get_original_cwd()


#: Variables Lightning's DDP launcher sets in the launching process (and reads back as "already launched").
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "PL_GLOBAL_SEED")


@contextlib.contextmanager
def sweep_job() -> Iterator[None]:
    """Run one sweep job so that DDP works inside it; single runs are left alone.

    - Lightning re-executes `sys.argv` for ranks > 0: with `-m` and every swept value, so each child
      would re-run the whole sweep (or train other Optuna samples), through `__main__` (a joblib or
      submitit worker module under those launchers). We swap in `job_command`: genlab-train with
      this job's own overrides, into this job's dir. (`ddp_spawn` would avoid child scripts, but
      pickles model and data, starts slower and is not what the DDP strategies use.)
    - Sweep jobs share one process: the next job must not inherit this one's process group and
      DDP environment variables, or Lightning takes it for an already launched rank.
    """
    if not in_multirun():
        yield
        return
    from pytorch_lightning.strategies.launchers import subprocess_script

    from genlab.strategies import close_process_group

    saved_command, saved_env = subprocess_script._hydra_subprocess_cmd, {k: os.environ.get(k) for k in DDP_ENV}
    subprocess_script._hydra_subprocess_cmd = job_command
    try:
        yield
    finally:
        subprocess_script._hydra_subprocess_cmd = saved_command
        close_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def write_result(output_dir: str | Path, metric: str | None, value: float | None, error: str | None = None) -> None:
    """This job's outcome, read by SweepSummary: {"metric", "value", "error"}, and "trial" (its Optuna
    trial and state, e.g. PRUNED) when genlab's sweeper ran it (`genlab.pruning`)."""
    path = Path(output_dir) / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, Any] = {"metric": metric, "value": value, "error": error}
    trial = Path(output_dir) / "trial.json"
    if trial.is_file():
        outcome["trial"] = json.loads(trial.read_text())
    path.write_text(json.dumps(outcome))


def collect_trials(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job dir under `sweep_dir` that has a result: its overrides, value and error."""
    rows = []
    for result in sorted(sweep_dir.glob(f"*/{RESULT_FILE}")):
        job = result.parent
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = OmegaConf.to_container(OmegaConf.load(overrides_file)) if overrides_file.is_file() else []
        params = dict(str(o).split("=", 1) for o in overrides if "=" in str(o))  # type: ignore[union-attr]
        params.pop("++callbacks.optuna_trial", None)  # the Optuna trial's address (genlab.pruning), not a parameter
        outcome = json.loads(result.read_text())
        value = math.inf if outcome["value"] is None else float(outcome["value"])
        rows.append({"job": job.name, "params": params, "metric": outcome["metric"], "value": value, "error": outcome.get("error")})
    return rows


def summary_table(rows: list[dict[str, Any]], direction: str = "minimize") -> tuple[list[str], list[list[Any]]]:
    """(header, rows) best first; parameter columns are the overrides that differ between jobs."""
    keys = sorted({k for row in rows for k in row["params"]})
    varying = [k for k in keys if len({row["params"].get(k) for row in rows}) > 1] or keys
    metric = next((row["metric"] for row in rows if row["metric"]), "value")
    sign = -1.0 if direction == "maximize" else 1.0
    # Failed trials (inf, NaN) last whatever the direction.
    ordered = sorted(rows, key=lambda row: (not math.isfinite(row["value"]), sign * row["value"] if math.isfinite(row["value"]) else 0.0))
    header = ["rank", "job", *varying, metric, "error"]
    table = [[i + 1, row["job"], *(row["params"].get(k, "") for k in varying), row["value"], row["error"] or ""] for i, row in enumerate(ordered)]
    return header, table


def format_table(header: list[str], table: list[list[Any]]) -> str:
    cells = [header, *[[f"{v:.6g}" if isinstance(v, float) else str(v) for v in row] for row in table]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells)


class SweepSummary(Callback):
    """Hydra callback: creates the sweep dir up front; at the end of a multirun, print the trials (parameters and metric, best
    first) and write them to `<sweep dir>/summary.csv`. Jobs of earlier invocations that share the
    sweep dir (a continued Optuna study) are included."""

    def __init__(self, direction: Any = "minimize", filename: str = "summary.csv") -> None:
        # The Optuna sweeper's direction may be a list (multi-objective); genlab optimises one metric.
        self.direction = str(direction[0] if isinstance(direction, (list, tuple)) or OmegaConf.is_list(direction) else direction)
        self.filename = filename

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # The Optuna study's sqlite file lives in the sweep dir, opened before the first job creates it.
        Path(config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = collect_trials(sweep_dir)
        if not rows:
            return
        header, table = summary_table(rows, self.direction.lower().rsplit(".", 1)[-1])
        with (sweep_dir / self.filename).open("w", newline="") as f:
            csv.writer(f).writerows([header, *table])
        print(f"genlab: {len(rows)} trials in {sweep_dir}, best first ({sweep_dir / self.filename}):")
        print(format_table(header, table))
