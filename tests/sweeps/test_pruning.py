"""Pruning: each job reports its monitored metric to its trial and stops when the study's pruner says
so; the trial is recorded PRUNED with its last value, under DDP too."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

# A short VAE run (val/nll every epoch) and a study that prunes from the first evaluation of the
# second trial on: anything worse than the first trial at the same epoch stops.
VAE = [
    "model=vae",
    "model.nll_samples=2",
    "dataset.batch_size=32",
    "+trainer.limit_train_batches=8",
    "+trainer.limit_val_batches=2",
    "~callbacks.sample_metrics",
]
MEDIAN = "hydra.sweeper.pruner={name:median,n_startup_trials:1,n_warmup_steps:0}"
SYNC = ["+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck", "+callbacks.sync.path=${paths.output_dir}/sync.json"]


def sweep(cli, sweep_dir: Path, *overrides: str):
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    command = ["-m", "hydra/sweeper=genlab_optuna", f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=prune", MEDIAN]
    command += ["hydra.sweeper.n_trials=1", "hydra.sweeper.report=false", *VAE, "trainer.max_epochs=3", f"hydra.sweep.dir={sweep_dir}"]
    result = cli("train", *command, *overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    return optuna.load_study(study_name="prune", storage=storage), result


def job_of(sweep_dir: Path, number: int) -> Path:
    (job,) = [r.parent for r in sweep_dir.glob("*/result.json") if json.loads(r.read_text())["trial"]["number"] == number]
    return job


def assert_second_trial_pruned_after_one_evaluation(study: optuna.Study, sweep_dir: Path) -> optuna.trial.FrozenTrial:
    first, second = study.trials
    assert first.state == TrialState.COMPLETE and len(first.intermediate_values) == 3
    assert second.state == TrialState.PRUNED and second.user_attrs["pruned_at_step"] == 0
    assert second.value == second.intermediate_values[0] > first.intermediate_values[0]  # its last value
    result = json.loads((job_of(sweep_dir, 1) / "result.json").read_text())
    assert result["trial"]["state"] == "PRUNED" and result["trial"]["epoch"] == 0
    assert result["value"] == pytest.approx(second.value)  # what the job returned: its val/nll when stopped
    return second


def test_a_trial_worse_than_the_median_is_pruned_with_its_last_value_and_its_run_dir_says_so(cli, tmp_path):
    sweep_dir = tmp_path / "sweep"
    sweep(cli, sweep_dir, "model.lr=2e-3")  # a trial that learns
    # Continuing the study with one that learns nothing (lr 1e-9): stopped after its first epoch.
    study, result = sweep(cli, sweep_dir, "model.lr=1e-9")
    assert_second_trial_pruned_after_one_evaluation(study, sweep_dir)
    assert "2 trials (1 complete, 1 pruned); best trial 0" in result.stdout
    # The continued study's job got a dir of its own: the first trial's is still there, whole.
    assert job_of(sweep_dir, 0).name == "0" and job_of(sweep_dir, 1).name == "1"
    assert (job_of(sweep_dir, 0) / "checkpoints" / "last.ckpt").is_file()
    metrics = (job_of(sweep_dir, 1) / "metrics.csv").read_text().splitlines()
    assert {line.split(",")[0] for line in metrics[1:]} <= {"0"}  # the job logged epoch 0 only


@pytest.mark.slow
def test_under_ddp_rank_0_decides_and_both_ranks_stop_together(cli, tmp_path):
    sweep_dir = tmp_path / "sweep"
    sweep(cli, sweep_dir, "model.lr=2e-3")
    study, _ = sweep(cli, sweep_dir, "model.lr=1e-9", "trainer=ddp_cpu", "trainer.devices=2", *SYNC)
    assert_second_trial_pruned_after_one_evaluation(study, sweep_dir)
    job = job_of(sweep_dir, 1)
    report = json.loads((job / "sync.json").read_text())
    # Both ranks ended training with identical weights: they stopped after the same step (a rank
    # that trained on would have hung in its next all-reduce, or ended with other weights).
    assert report["world_size"] == 2 and report["parameters"][0] == report["parameters"][1]
    assert (job / "train_ddp_process_1.log").is_file()


@pytest.mark.slow
def test_a_pruned_sweep_where_half_the_space_learns_nothing_trains_at_most_half_the_epochs_and_finds_the_same_best(cli, tmp_path):
    from benchmarks.pruning_sweep import command  # the benchmark's sweep (benchmarks/README.md), grid order seed 0

    studies = {}
    for pruner in ("none", "median"):
        result = cli("train", *command(tmp_path / pruner, seed=0, pruner=pruner))
        assert result.returncode == 0, result.stderr[-3000:]
        studies[pruner] = optuna.load_study(study_name="pruning", storage=f"sqlite:///{tmp_path / pruner / 'optuna.db'}")
    epochs = {name: sum(len(t.intermediate_values) for t in study.trials) for name, study in studies.items()}
    assert epochs["none"] == 8 * 8 and epochs["median"] <= epochs["none"] / 2
    assert studies["median"].best_trial.params == studies["none"].best_trial.params
    # With seed 0 a trial that learns runs first: every trial that learns nothing is pruned.
    learns_nothing = [t for t in studies["median"].trials if float(t.params["model.lr"]) < 1e-6]
    assert len(learns_nothing) == 4 and all(t.state == TrialState.PRUNED for t in learns_nothing)
