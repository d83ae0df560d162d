"""Sweeps: Optuna studies that continue, failed trials that score inf, launchers, DDP inside sweep jobs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from genlab.sweeps import format_table, summary_table

QUICK = ["debug=limit", "trainer.max_epochs=1", "dataset.batch_size=32", "~callbacks.sample_metrics"]
VAE = ["model=vae", "model.nll_samples=2"]
SYNC = ["+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck", "+callbacks.sync.path=${paths.output_dir}/sync.json"]


def job_dirs(sweep: Path) -> list[Path]:
    """The sweep's job dirs (each has Hydra's .hydra/ record)."""
    return sorted(p.parent for p in sweep.glob("*/.hydra"))


def results(sweep: Path) -> list[dict]:
    return [json.loads((job / "result.json").read_text()) for job in job_dirs(sweep)]


def summary(sweep: Path) -> list[dict]:
    with (sweep / "summary.csv").open() as f:
        return list(csv.DictReader(f))


def study(sweep: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep / 'optuna.db'}")


def test_an_optuna_sweep_on_ddp_continues_its_study_and_trains_each_trial_on_every_rank(cli, tmp_path):
    sweep = tmp_path / "sweep"
    command = ["hparams_search=vae_optuna", "hydra.sweeper.n_trials=1", *VAE, "trainer=ddp_cpu", "trainer.devices=2", *QUICK, *SYNC]
    for _ in range(2):  # the same command twice: the second adds a trial to the same study
        result = cli("train", *command, f"hydra.sweep.dir={sweep}")
        assert result.returncode == 0, result.stderr[-3000:]
    trials = study(sweep, "vae_digits").trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    jobs = job_dirs(sweep)
    assert len(jobs) == 2  # one dir per trial; the second invocation kept the first one's
    assert_each_job_ran_once_on_both_ranks(tmp_path, jobs)
    # Each job trained the trial Optuna sampled for it, and returned its val/nll to the study.
    by_lr = {t.params["model.lr"]: t.value for t in trials}
    for job in jobs:
        lr, value = OmegaConf.load(job / "config.yaml").model.lr, json.loads((job / "result.json").read_text())["value"]
        assert by_lr[lr] == pytest.approx(value)
    # The summary covers the whole study, best first.
    assert sorted(by_lr.values()) == [float(row["val/nll"]) for row in summary(sweep)]
    assert "2 trials in" in result.stdout and "val/nll" in result.stdout


def assert_each_job_ran_once_on_both_ranks(tmp_path: Path, jobs: list[Path]) -> None:
    for job in jobs:
        report = json.loads((job / "sync.json").read_text())
        # Both ranks ended with identical weights: a rank training other hyperparameters would not.
        assert report["world_size"] == 2 and report["parameters"][0] == report["parameters"][1]
        assert (job / "train_ddp_process_1.log").is_file()  # rank 1 ran in this job's dir
    assert not (tmp_path / "outputs").exists()  # no child process started a sweep of its own


@pytest.mark.slow
def test_a_grid_sweep_on_ddp_runs_each_job_once_with_its_values_on_every_rank(cli, tmp_path):
    sweep = tmp_path / "sweep"
    command = ["-m", "model.lr_g=1e-4,2e-4", "model.monitor=null", "trainer=ddp_cpu", "trainer.devices=2", *QUICK, *SYNC]
    result = cli("train", *command, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = job_dirs(sweep)
    assert [OmegaConf.load(job / "config.yaml").model.lr_g for job in jobs] == [1e-4, 2e-4]
    assert_each_job_ran_once_on_both_ranks(tmp_path, jobs)


def test_a_fast_dev_run_sweep_ends_with_a_one_line_summary_not_a_traceback(cli, tmp_path):
    # The smoke test of lightning-hydra-template in genlab's terms (issue 15): fast_dev_run computes no
    # val/fid, so every trial fails, and the sweep says so in one line.
    sweep = tmp_path / "sweep"
    command = [
        "-m",
        "hparams_search=gan_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=5",
        "++trainer.fast_dev_run=true",
    ]
    result = cli("train", *command, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    line = "genlab: study gan_digits: 2 trials (2 fail); no trial returned a finite val/fid (trainer.fast_dev_run computes no sample metrics)"
    assert line in result.stdout.splitlines()
    assert [t.state for t in study(sweep, "gan_digits").trials] == [optuna.trial.TrialState.FAIL] * 2


def test_a_diverging_trial_scores_inf_and_the_sweep_goes_on(cli, tmp_path):
    sweep = tmp_path / "sweep"
    result = cli("train", "-m", *VAE, "model.lr=1e-3,1e9", *QUICK, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    good, diverged = results(sweep)
    assert math.isfinite(good["value"]) and diverged["value"] == math.inf
    assert "NonFiniteLossError: train/" in diverged["error"] and "global step" in diverged["error"]
    rows = summary(sweep)
    assert [row["model.lr"] for row in rows] == ["0.001", "1000000000.0"]  # best first, failed last
    assert rows[1]["val/nll"] == "inf"


@pytest.mark.slow
def test_the_submitit_local_launcher_runs_jobs_in_their_own_processes(cli, tmp_path):
    sweep = tmp_path / "sweep"
    result = cli("train", "-m", "hydra/launcher=local", *VAE, *QUICK, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    (job,) = job_dirs(sweep)
    assert math.isfinite(results(sweep)[0]["value"])
    assert list((sweep / ".submitit").glob("*/*_log.out"))  # submitit's own job logs


@pytest.mark.slow
def test_the_joblib_launcher_runs_jobs_in_parallel_processes(cli, tmp_path):
    sweep = tmp_path / "sweep"
    result = cli("train", "-m", "hydra/launcher=parallel", *VAE, "model.lr=1e-3,2e-3", *QUICK, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["error"] for r in results(sweep)] == [None, None]


def test_the_summary_ranks_trials_best_first_and_failed_last():
    rows = [
        {"job": "0", "params": {"lr": "1", "seed": "1"}, "metric": "val/fid", "value": 5.0, "error": None},
        {"job": "1", "params": {"lr": "2", "seed": "1"}, "metric": "val/fid", "value": math.inf, "error": "diverged"},
        {"job": "2", "params": {"lr": "3", "seed": "1"}, "metric": "val/fid", "value": 2.0, "error": None},
    ]
    header, table = summary_table(rows)
    assert header == ["rank", "job", "lr", "val/fid", "error"]  # only the parameters that vary
    assert [row[1] for row in table] == ["2", "0", "1"]
    assert [row[1] for row in summary_table(rows, "maximize")[1]] == ["0", "2", "1"]
    assert format_table(header, table).splitlines()[1].split() == ["1", "2", "3", "2"]
