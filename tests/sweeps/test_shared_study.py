"""Many workers, one study: sweeper processes sharing a study in PostgreSQL or a journal file run
n_trials together, and a worker killed mid-trial leaves no trial RUNNING."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from genlab.studies import open_storage

from .conftest import output

N_TRIALS = 9


def finished(processes, tmp_path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for i, process in enumerate(processes):
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
        assert process.returncode == 0, output(tmp_path, f"w{i}")[-3000:]


def assert_three_workers_share_n_trials(start_worker, tmp_path: Path, storage: str, study_name: str) -> None:
    workers = [start_worker(f"w{i}", storage, study_name, f"hydra.sweeper.n_trials={N_TRIALS}") for i in range(3)]
    finished(workers, tmp_path)
    trials = optuna.load_study(study_name=study_name, storage=open_storage(storage)).trials
    numbers = [t.number for t in trials]
    assert len(trials) == N_TRIALS and sorted(numbers) == list(range(N_TRIALS))  # together n_trials, none twice
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # Each trial ran once, in one of the workers (one job dir each).
    assert sum(len(list((tmp_path / f"w{i}").glob("*/.hydra"))) for i in range(3)) == N_TRIALS


def test_three_workers_on_a_journal_file_run_n_trials_together(start_worker, tmp_path, study_name):
    assert_three_workers_share_n_trials(start_worker, tmp_path, f"journal://{tmp_path / 'study.log'}", study_name)


def test_three_workers_on_postgresql_run_n_trials_together(start_worker, tmp_path, study_name, postgres_url):
    assert_three_workers_share_n_trials(start_worker, tmp_path, postgres_url, study_name)


def wait_for_running(storage: str, study_name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
            if any(t.params for t in study.get_trials(states=(TrialState.RUNNING,))):  # sampled: its job runs
                return
        except KeyError:  # the study does not exist yet
            pass
        time.sleep(0.2)
    raise AssertionError("the worker never started a trial")


def assert_a_killed_workers_trial_fails_and_is_retried(start_worker, tmp_path: Path, storage: str, study_name: str) -> None:
    # The first worker's trials take a minute: it is killed in its first one.
    doomed = start_worker("w0", storage, study_name, "hydra.sweeper.n_trials=4", "sleep=60")
    wait_for_running(storage, study_name)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    # A worker started now joins the campaign (a trial is still RUNNING) and finishes it, the dead
    # worker's trial included once its heartbeat is older than the grace period (3 s).
    survivor = start_worker("w1", storage, study_name, "hydra.sweeper.n_trials=4")
    survivor.wait(timeout=120)
    assert survivor.returncode == 0, output(tmp_path, "w1")[-3000:]
    trials = optuna.load_study(study_name=study_name, storage=open_storage(storage)).trials
    states = [t.state for t in trials]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    (killed,) = [t for t in trials if t.state == TrialState.FAIL]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params  # the same trial again
    assert states.count(TrialState.COMPLETE) == 4  # the campaign's 4 trials, one of them the retry


def test_a_worker_killed_mid_trial_on_a_journal_file_leaves_its_trial_failed_and_retried(start_worker, tmp_path, study_name):
    assert_a_killed_workers_trial_fails_and_is_retried(start_worker, tmp_path, f"journal://{tmp_path / 'study.log'}", study_name)


def test_a_worker_killed_mid_trial_on_postgresql_leaves_its_trial_failed_and_retried(start_worker, tmp_path, study_name, postgres_url):
    assert_a_killed_workers_trial_fails_and_is_retried(start_worker, tmp_path, postgres_url, study_name)


def test_a_trial_left_running_without_a_heartbeat_neither_blocks_nor_joins_a_sweep(start_worker, tmp_path, study_name):
    # E.g. from the old hydra-optuna-sweeper, killed mid-trial: nothing can tell whether it is alive.
    storage = f"journal://{tmp_path / 'study.log'}"
    optuna.create_study(study_name=study_name, storage=open_storage(storage)).ask()
    worker = start_worker("w0", storage, study_name, "hydra.sweeper.n_trials=2", "sleep=0")
    assert worker.wait(timeout=120) == 0, output(tmp_path, "w0")[-3000:]
    states = [t.state for t in optuna.load_study(study_name=study_name, storage=open_storage(storage)).trials]
    assert states == [TrialState.RUNNING, TrialState.COMPLETE, TrialState.COMPLETE]  # 2 new trials; the old one is left as it was


def test_a_storage_url_of_an_unknown_kind_is_a_config_error():
    from genlab.errors import ConfigError

    with pytest.raises(ConfigError, match="hydra.sweeper.storage=redis://x: expected an RDB URL"):
        open_storage("redis://x")
    with pytest.raises(ConfigError, match="absolute path"):
        open_storage("journal://relative.log")
