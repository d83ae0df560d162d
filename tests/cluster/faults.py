"""Faults injected into one rank of a DDP job (importable by the CLI subprocesses: PYTHONPATH=<repo>)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class FailAt(pl.Callback):
    """On global rank `rank`: at `setup` (batch=None, before training) or at the start of training
    batch `batch`, raise (`how=raise`), exit without cleanup (`how=exit`), be killed (`how=kill`: SIGKILL,
    as by the OOM killer) or stop responding (`how=hang`).
    With `touch`, every rank writes `<touch>.<rank>` when it reaches that point (tests wait on it)."""

    def __init__(self, rank: int, batch: int | None = None, how: str = "raise", touch: str | None = None) -> None:
        self.rank, self.batch, self.how, self.touch = rank, batch, how, touch

    def _maybe_fail(self, trainer: pl.Trainer) -> None:
        if self.touch:
            Path(f"{self.touch}.{trainer.global_rank}").write_text(str(os.getpid()))
        if trainer.global_rank != self.rank:
            return
        if self.how == "raise":
            raise RuntimeError(f"injected fault on rank {self.rank}")
        if self.how == "exit":
            os._exit(3)
        if self.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.how == "hang":
            time.sleep(3600)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.batch is None:
            self._maybe_fail(trainer)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if batch_idx == self.batch and trainer.current_epoch == 0:
            self._maybe_fail(trainer)


class Slow(pl.Callback):
    """Every rank sleeps `seconds` before each training batch and writes "<epoch> <batch> <pid>" to
    `<touch>.<rank>` (and, once per process, appends it to `<touch>.<rank>.starts`): a job that is
    reliably mid-epoch while a test interrupts it, and a record of where each restart resumed.
    `first_run_only`: a restarted process trains at full speed; `fast_first`: so do a process's first
    batches (a checkpoint exists early)."""

    def __init__(self, seconds: float, touch: str, first_run_only: bool = False, fast_first: int = 0) -> None:
        self.seconds, self.touch, self.first_run_only, self.fast_first = seconds, touch, first_run_only, fast_first
        self.started = False
        self.sleep = True
        self.batches = 0  # run by this process

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        where = f"{trainer.current_epoch} {batch_idx} {os.getpid()}"
        Path(f"{self.touch}.{trainer.global_rank}").write_text(where)
        if not self.started:  # one line per process: where each (re)start began training
            self.started = True
            starts = Path(f"{self.touch}.{trainer.global_rank}.starts")
            self.sleep = not (self.first_run_only and starts.exists())
            with starts.open("a") as f:
                f.write(where + "\n")
        self.batches += 1
        if self.sleep and self.batches > self.fast_first:
            time.sleep(self.seconds)


class RecordRank(pl.Callback):
    """Every rank writes `<path>.<rank>.json`: the cluster environment Lightning chose and the ranks it gave."""

    def __init__(self, path: str) -> None:
        self.path = path

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        record = {
            "environment": type(trainer.strategy.cluster_environment).__name__,
            "global_rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "slurm_procid": os.environ.get("SLURM_PROCID"),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "slurm_nodeid": os.environ.get("SLURM_NODEID"),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        Path(f"{self.path}.{trainer.global_rank}.json").write_text(json.dumps(record))


class RecordSamples(pl.Callback):
    """Every rank appends a digest of each training image it is given to `<path>.<rank>`, one per line."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        digests = [hashlib.sha1(image.detach().cpu().numpy().tobytes()).hexdigest() for image in images]
        with open(f"{self.path}.{trainer.global_rank}", "a") as f:
            f.write("".join(d + "\n" for d in digests))
