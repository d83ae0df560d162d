"""Pruning inside a sweep job: report the monitored metric to the job's Optuna trial at every
evaluation, and stop training when the study's pruner says so.

genlab's sweeper (`hydra_plugins.genlab_optuna_sweeper`) adds this callback to every job it
launches, with the study's storage URL, study name and trial number (`genlab.studies.trial_override`).
The job builds the study's pruner (`hydra.sweeper.pruner`) from the spec the sweeper saved in the study.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from genlab.pruners import PRUNER_ATTR, build_pruner
from genlab.studies import PRUNED_AT, TRIAL_FILE, open_storage

log = logging.getLogger(__name__)


class OptunaTrialCallback(pl.Callback):
    """Reports `monitor` to trial `trial_number` of the study after every evaluation that produced a
    new value (step = the evaluation's index in this trial) and stops training when the pruner says
    so. Rank 0 talks to the study; the decision is broadcast so every DDP rank stops together.

    A pruned job keeps its last value: the sweeper records the trial PRUNED with it (the job marks the
    trial with the user attribute `pruned_at_step`), and `<dirpath>/trial.json` (folded into
    `result.json`) says `"state": "PRUNED"`.
    """

    def __init__(self, storage: str, study_name: str, trial_number: int, monitor: str | None, dirpath: str | None = None) -> None:
        self.storage_url, self.study_name, self.trial_number = storage, study_name, int(trial_number)
        self.monitor, self.dirpath = monitor, dirpath
        self.trial: Any = None
        self.storage: Any = None
        self.step = 0
        self.last: float | None = None
        self.pruned_at: int | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero or self.trial is not None:
            return
        import optuna

        storage = open_storage(self.storage_url)
        study_id = storage.get_study_id_from_name(self.study_name)
        pruner = build_pruner(storage.get_study_system_attrs(study_id).get(PRUNER_ATTR))
        study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=pruner)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.trial_number)
        self.trial, self.storage = optuna.Trial(study, trial_id), storage
        # A resumed job (requeued on a cluster) goes on counting from the evaluations already reported.
        reported = storage.get_trial(trial_id).intermediate_values
        self.step = max(reported) + 1 if reported else 0
        self.write({"study": self.study_name, "number": self.trial_number, "state": "RUNNING"})

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Sweep jobs share the sweeper's process: close this job's database connections now, not at GC.
        engine = getattr(self.storage, "engine", None)
        if stage == "fit" and engine is not None:
            engine.dispose()

    def needs_validation(self, trainer: pl.Trainer) -> bool:
        return False  # reports only new values, which come with validations that others need

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        prune = self.report(trainer) if trainer.is_global_zero else False
        # Every rank takes part in the broadcast at every validation, whatever rank 0 found.
        if trainer.strategy.broadcast(prune, src=0):
            trainer.should_stop = True

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and self.trial is not None and self.pruned_at is None:
            self.write({"study": self.study_name, "number": self.trial_number, "state": "COMPLETE", "evaluations": self.step, "value": self.last})

    def report(self, trainer: pl.Trainer) -> bool:
        value = trainer.callback_metrics.get(self.monitor) if self.monitor else None
        if value is None or self.trial is None:
            return False
        value = float(value)
        # callback_metrics keeps a metric between evaluations (val/fid runs every n epochs): a value
        # equal to the last one reported is that same evaluation, not a new one.
        if self.last is not None and (value == self.last or (math.isnan(value) and math.isnan(self.last))):
            return False
        self.last = value
        step, self.step = self.step, self.step + 1
        try:
            self.trial.report(value if math.isfinite(value) else math.inf, step)
            if not self.trial.should_prune():
                return False
            self.trial.set_user_attr(PRUNED_AT, step)
        except Exception as err:  # the trial may have been failed meanwhile (stale heartbeat): train on, the sweeper decides
            log.warning("genlab: could not report to trial %d of study %s: %s", self.trial_number, self.study_name, err)
            return False
        self.pruned_at = step
        log.info("genlab: trial %d pruned at evaluation %d (%s=%.6g)", self.trial_number, step, self.monitor, value)
        self.write(
            {"study": self.study_name, "number": self.trial_number, "state": "PRUNED", "step": step, "epoch": trainer.current_epoch, "value": value}
        )
        return True

    def write(self, record: dict[str, Any]) -> None:
        if self.dirpath:
            path = Path(self.dirpath) / TRIAL_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))
