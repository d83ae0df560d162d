"""A resumed run continues the records of the run it resumes: CSV rows, TensorBoard events, wandb rows
and `metrics.jsonl`, every step once.

A run killed after its last checkpoint has logged steps that the resumed run will log again (its
work between the checkpoint and the kill is redone). `Continuation` decides, record by record:

- a record at a step before the checkpoint's (`floor`) is history: the resumed run skips it (e.g. a
  setup-time record logged again at step 0);
- the first record at or after `floor`, at step s, starts the new timeline: the old records at s and
  later came from the lost work after the checkpoint, so they are cut (`"cut"`), then it is written.
  (Not cut at `floor` itself: a record logged at that step before the checkpoint was saved, say the
  validation of the epoch that ended there, is history the resumed run does not redo.)

Lightning's own CSV logger deletes an existing metrics.csv, and TensorBoard keeps both copies of a
re-logged step; `CSVLogger` and `TensorBoardLogger` here apply the rule instead. wandb cannot cut
rows it has written: see `ResumableWandbLogger`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pytorch_lightning.loggers import CSVLogger as _CSVLogger
from pytorch_lightning.loggers import TensorBoardLogger as _TensorBoardLogger
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities.rank_zero import rank_zero_only


@dataclass(frozen=True)
class ResumePoint:
    """Where a checkpoint stands, in the two step counts records use: loggers' rows are keyed by
    batches (`_batches_that_stepped`), metrics.jsonl by optimizer steps (`trainer.global_step`)."""

    logger_step: int
    global_step: int

    @classmethod
    def of(cls, checkpoint: dict[str, Any]) -> ResumePoint:
        loop = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
        return cls(int(loop.get("_batches_that_stepped", 0)), int(checkpoint.get("global_step", 0)))


@runtime_checkable
class ContinuesHistory(Protocol):
    """Loggers and callbacks that keep records across a resume; genlab-train calls this before fit."""

    def continue_history(self, point: ResumePoint) -> None: ...


@dataclass
class Continuation:
    floor: int
    started: bool = False

    def route(self, step: int) -> Literal["skip", "cut", "write"]:
        if step < self.floor:
            return "skip"
        if not self.started:
            self.started = True
            return "cut"
        return "write"


def replace_lines(path: Path, keep: list[str]) -> None:
    """Rewrite a text file atomically (a crash leaves the old one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(keep))
    os.replace(tmp, path)


def cut_jsonl(path: Path, step: int) -> None:
    """Drop the records of `path` (one JSON object per line, with "step") at `step` and later."""
    if path.is_file():
        replace_lines(path, [line for line in path.read_text().splitlines(keepends=True) if line.strip() and json.loads(line)["step"] < step])


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing metrics.csv is continued, not deleted."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = list(csv.DictReader(f).fieldnames or [])

    def cut(self, step: int) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        keep = [row for row in rows if row.get("step") in (None, "") or float(row["step"]) < step]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(keep)
        os.replace(tmp, path)


class _ContinuingLogger:
    """Mixin for a Lightning logger: on resume, each record is skipped, written, or first cuts the
    logger's own records of the lost steps (`_cut`), as `Continuation` decides."""

    continuation: Continuation | None = None

    def continue_history(self, point: ResumePoint) -> None:
        self.continuation = Continuation(point.logger_step)

    def _cut(self, step: int) -> None:
        raise NotImplementedError

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        action = self.continuation.route(step) if self.continuation is not None and step is not None else "write"
        if action == "skip":
            return
        if action == "cut":
            self._cut(step)
        super().log_metrics(metrics, step)  # type: ignore[misc] - the Lightning logger after this mixin


class _FreshWriter(ExperimentWriter):
    """Lightning's CSV writer, without its warning that "previous log files will be deleted" for a
    run dir that holds none: every genlab run dir holds .hydra/ and the run's log before the first
    row. An existing metrics.csv is still replaced, with the warning (`ckpt_path=auto` starting
    afresh where an earlier attempt died before its first checkpoint; genlab-train refuses any other
    new run in a dir that holds one, see genlab.rundir)."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            super()._check_log_dir_exists()


class CSVLogger(_ContinuingLogger, _CSVLogger):
    """pytorch_lightning's CSVLogger that continues metrics.csv when the run is resumed."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            writer = _FreshWriter if self.continuation is None else _AppendingWriter
            self._experiment = writer(log_dir=self.log_dir)
        return super().experiment

    def _cut(self, step: int) -> None:
        self.experiment.cut(step)


class TensorBoardLogger(_ContinuingLogger, _TensorBoardLogger):
    """pytorch_lightning's TensorBoardLogger; on resume, events of the lost steps are purged.

    The purge is TensorBoard's own: a SessionLog START event at step s hides every earlier-written
    event at s or later (what SummaryWriter's `purge_step` writes; here it is written when the first
    new step is known).
    """

    def _cut(self, step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog

        self.experiment._get_file_writer().add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))


class ResumableWandbLogger(WandbLogger):
    """WandbLogger whose run holds each step once across a kill and a resume.

    wandb cannot cut rows it has written, and a killed process loses the rows its wandb-core had
    not yet written (measured: from none to all of the last seconds' rows). So this logger keeps
    its own journal of scalar rows (`<save_dir>/wandb/history.jsonl`, flushed with every
    checkpoint). Offline, a resumed run moves the earlier run segments aside
    (`wandb/superseded/`, kept, not uploaded by `wandb sync <save_dir>/wandb/offline-run-*`) and
    replays the journal's history into its own segment: one complete segment. Online, the server's
    rows cannot be moved: the resumed run logs only the steps after the last one in the journal,
    so rows wandb lost at the kill stay missing there (CSV and TensorBoard have them). Images are
    not replayed.
    """

    continuation: Continuation | None = None
    skip_through: float = -math.inf
    _pending: list[str]

    @property
    def journal(self) -> Path:
        return Path(self.save_dir or ".") / "wandb" / "history.jsonl"

    @rank_zero_only  # the other DDP ranks log nothing, and must not move rank 0's files
    def continue_history(self, point: ResumePoint) -> None:
        self.continuation = Continuation(point.logger_step)
        if not self._offline:
            lines = self.journal.read_text().splitlines() if self.journal.is_file() else []
            self.skip_through = max((json.loads(line)["step"] for line in lines if line.strip()), default=-math.inf)
            return
        segments = sorted((Path(self.save_dir or ".") / "wandb").glob("offline-run-*"))
        for segment in segments:
            (segment.parent / "superseded").mkdir(exist_ok=True)
            shutil.move(str(segment), segment.parent / "superseded" / segment.name)

    @rank_zero_only
    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        action = self.continuation.route(step) if self.continuation is not None and step is not None else "write"
        if action == "skip" or (step is not None and step <= self.skip_through):
            return
        if action == "cut":
            self._replay_before(step)
        super().log_metrics(metrics, step)
        scalars = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) or getattr(v, "ndim", None) == 0}
        if step is not None and scalars:
            self.__dict__.setdefault("_pending", []).append(json.dumps({"step": step, "metrics": scalars}) + "\n")

    def _replay_before(self, step: int) -> None:
        """Cut the journal at `step` (the lost work after the checkpoint); offline, log the rest again."""
        self.save()
        if not self.journal.is_file():
            return
        keep = [line for line in self.journal.read_text().splitlines(keepends=True) if line.strip() and json.loads(line)["step"] < step]
        replace_lines(self.journal, keep)
        if self._offline:
            for line in keep:
                row = json.loads(line)
                super().log_metrics(row["metrics"], row["step"])

    @rank_zero_only
    def save(self) -> None:
        super().save()
        pending = self.__dict__.pop("_pending", [])
        if pending:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            with self.journal.open("a") as f:
                f.writelines(pending)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()
        super().finalize(status)
