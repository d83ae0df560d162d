"""genlab's Optuna sweeper hands its trials to any Hydra launcher: joblib and submitit run them in other processes."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from genlab.studies import open_storage

from .conftest import output


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_trials_run_by_the_joblib_and_submitit_launchers_are_told_to_the_study(start_worker, tmp_path, study_name, launcher):
    storage = f"journal://{tmp_path / 'study.log'}"
    # Two trials asked and launched together, then two more.
    worker = start_worker("w0", storage, study_name, f"hydra/launcher={launcher}", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4")
    assert worker.wait(timeout=300) == 0, output(tmp_path, "w0")[-3000:]
    trials = optuna.load_study(study_name=study_name, storage=open_storage(storage)).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert all(t.value == pytest.approx((t.params["x"] - 0.3) ** 2) for t in trials)
    if launcher == "submitit_local":
        assert list((tmp_path / "w0" / ".submitit").glob("*/*_log.out"))  # each job ran in its own process
