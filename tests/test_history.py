"""A resumed run continues its records: each logger keeps the steps before the resume and replaces
the ones the killed run logged after its last checkpoint (genlab.history). The end-to-end kill -9
test with all three dashboards is in tests/test_resume.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

from genlab.callbacks import SampleMetricsCallback
from genlab.history import Continuation, CSVLogger, ResumePoint, TensorBoardLogger
from genlab.metrics import ClassifierFeatures


def test_records_before_the_checkpoint_are_skipped_and_the_first_later_one_cuts():
    c = Continuation(floor=10)
    assert [c.route(s) for s in (0, 9, 12, 13, 20)] == ["skip", "skip", "cut", "write", "write"]


def csv_steps(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="") as f:
        return [(row["step"], row["loss"]) for row in csv.DictReader(f)]


def test_csv_keeps_the_history_and_replaces_the_steps_logged_after_the_checkpoint(tmp_path):
    first = CSVLogger(tmp_path, name="", version="")
    for step in range(6):
        first.log_metrics({"loss": float(step)}, step)
    first.save()  # the killed run had written steps 0-5; its checkpoint was at step 4

    resumed = CSVLogger(tmp_path, name="", version="")
    resumed.continue_history(ResumePoint(logger_step=4, global_step=8))
    resumed.log_metrics({"features/accuracy": 0.99}, 0)  # set-up records logged again: already there
    for step in (4, 5, 6):
        resumed.log_metrics({"loss": 10.0 + step}, step)
    resumed.save()
    assert csv_steps(tmp_path / "metrics.csv") == [
        ("0", "0.0"),
        ("1", "1.0"),
        ("2", "2.0"),
        ("3", "3.0"),
        ("4", "14.0"),
        ("5", "15.0"),
        ("6", "16.0"),
    ]


def test_a_fresh_run_in_a_used_dir_starts_a_new_csv_as_lightning_does(tmp_path):
    old = CSVLogger(tmp_path, name="", version="")
    old.log_metrics({"loss": 1.0}, 0)
    old.save()
    new = CSVLogger(tmp_path, name="", version="")
    new.log_metrics({"loss": 2.0}, 0)
    new.save()
    assert csv_steps(tmp_path / "metrics.csv") == [("0", "2.0")]


def test_tensorboard_purges_the_steps_logged_after_the_checkpoint(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    first = TensorBoardLogger(tmp_path, name="tb", version="")
    for step in range(6):
        first.log_metrics({"loss": float(step)}, step)
    first.experiment.close()
    resumed = TensorBoardLogger(tmp_path, name="tb", version="")
    resumed.continue_history(ResumePoint(logger_step=4, global_step=8))
    for step in (1, 4, 5):
        resumed.log_metrics({"loss": 10.0 + step}, step)
    resumed.experiment.close()
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0), (4, 14.0), (5, 15.0)]


def test_metrics_jsonl_keeps_earlier_evaluations_and_each_evaluation_once(tmp_path):
    def evaluation(callback, step: int, fid: float) -> None:
        callback.append(SimpleNamespace(current_epoch=step // 10, global_step=step), {"fid": fid}, {"fid": {}})

    first = SampleMetricsCallback(ClassifierFeatures(), dirpath=str(tmp_path))
    for step, fid in ((10, 50.0), (20, 40.0), (30, 30.0)):
        evaluation(first, step, fid)  # killed after the evaluation at step 30; last checkpoint at step 20
    resumed = SampleMetricsCallback(ClassifierFeatures(), dirpath=str(tmp_path))
    resumed.continue_history(ResumePoint(logger_step=10, global_step=20))
    for step, fid in ((30, 31.0), (40, 20.0)):
        evaluation(resumed, step, fid)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["values"]["val/fid"]) for r in records] == [(10, 50.0), (20, 40.0), (30, 31.0), (40, 20.0)]
