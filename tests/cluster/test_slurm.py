"""genlab on a real (one-node) Slurm through Hydra's submitit launcher: ranks from Slurm, one job
record per job, requeue and time-limit resubmission resuming exactly (ckpt_path=auto)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import REPO, run_script
from tests.test_resume import RUN, final_state

pytestmark = pytest.mark.cluster

# 2 Slurm tasks (one per "device"), one CPU each: this machine has two.
SLURM = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "trainer=ddp_cpu", "trainer.devices=2"]
QUICK = [
    "debug=limit",
    "trainer.max_epochs=1",
    "dataset.batch_size=16",
    "logger=csv",
    "callbacks.sample_metrics=null",
    "model.monitor=null",
    "trainer.enable_progress_bar=false",
]
SYNC = ["+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck", "+callbacks.sync.path=${paths.output_dir}/sync.json"]
RANKS = ["+callbacks.ranks._target_=tests.cluster.faults.RecordRank", "+callbacks.ranks.path=${paths.output_dir}/rank"]
ENV = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
# As the DDP resume test in tests/test_resume.py: 2 ranks x 16 samples, 6 batches per epoch.
DDP = ["trainer=ddp_cpu", "dataset.batch_size=16", "logger=csv", "trainer.enable_progress_bar=false"]


def test_a_slurm_sweep_runs_each_job_as_two_srun_tasks_with_ranks_from_slurm(cli, tmp_path, slurm, slurm_env):
    sweep = tmp_path / "sweep"
    start = time.monotonic()
    result = cli("train", "-m", *SLURM, *QUICK, *SYNC, *RANKS, "model.lr_g=1e-4,2e-4", f"hydra.sweep.dir={sweep}", env={**ENV, **slurm_env})
    wall = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.parent for p in sweep.glob("*/.hydra"))
    assert [job.name for job in jobs] == ["0", "1"]  # a 2-job sweep gives 2 jobs
    assert [OmegaConf.load(job / "config.yaml").model.lr_g for job in jobs] == [1e-4, 2e-4]
    submission = next(sweep.glob(".submitit/*/*_submission.sh")).read_text()
    assert "#SBATCH --ntasks-per-node=2" in submission and "\nsrun " in submission and "gpus" not in submission
    for job in jobs:
        ranks = [json.loads((job / f"rank.{r}.json").read_text()) for r in (0, 1)]
        # Each rank is its own Slurm task; Lightning took rank and world size from Slurm.
        assert [r["environment"] for r in ranks] == ["SLURMEnvironment"] * 2
        assert [(r["global_rank"], r["slurm_procid"], r["world_size"]) for r in ranks] == [(0, "0", 2), (1, "1", 2)]
        assert ranks[0]["slurm_job_id"] == ranks[1]["slurm_job_id"] and ranks[0]["pid"] != ranks[1]["pid"]
        sync = json.loads((job / "sync.json").read_text())
        assert sync["world_size"] == 2 and sync["parameters"][0] == sync["parameters"][1]
        # Written once: rank 0 keeps the job's records, rank 1 only its own log (as under Lightning's launcher).
        assert (job / "train.log").read_text().count("Job completed successfully") <= 1
        assert (job / "train_ddp_process_1.log").is_file()
        assert len(list(job.glob("checkpoints/*.ckpt"))) == 1 and json.loads((job / "result.json").read_text())["error"] is None
    slurm.wait_idle()
    assert not slurm.jobs()
    print(f"slurm 2-job sweep: {wall:.1f} s")


def test_a_slurm_job_killed_by_sigkill_is_a_failed_trial_and_the_sweep_goes_on(cli, tmp_path, slurm, slurm_env):
    """Job 0's rank 0 is SIGKILLed in training (as by the OOM killer): it leaves no submitit result,
    which used to end the sweep (`job.results()` raised; on this cluster, without accounting, the
    sweep waited forever). It is scored inf with the reason; job 1 (no rank 9) trains to the end."""
    sweep = tmp_path / "sweep"
    kill = ["+callbacks.fail._target_=tests.cluster.faults.FailAt", "+callbacks.fail.how=kill", "+callbacks.fail.batch=1"]
    start = time.monotonic()
    result = cli("train", "-m", *SLURM, *QUICK, *kill, "+callbacks.fail.rank=0,9", f"hydra.sweep.dir={sweep}", env={**ENV, **slurm_env}, timeout=400)
    wall = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-3000:]  # the sweep went on to its end
    killed, done = (json.loads((sweep / str(job) / "result.json").read_text()) for job in (0, 1))
    assert killed["value"] == math.inf and killed["error"].startswith("KilledJob: Slurm job "), killed
    assert "JobState=FAILED" in killed["error"] and "srun: task 0: Killed" in killed["error"], killed  # SIGKILL, as Slurm saw it
    assert done["error"] is None and len(list((sweep / "1").glob("checkpoints/*.ckpt"))) == 1
    assert "2 trials in" in result.stdout and "KilledJob" in result.stdout  # the sweep's summary lists it as failed
    slurm.wait_idle()
    assert not slurm.jobs()
    print(f"slurm sweep with a SIGKILLed job: {wall:.1f} s")


def position(touch: Path) -> tuple[int, int]:
    """(epoch, batch) that rank 0 of a job with the `Slow` callback last started."""
    try:
        epoch, batch, _ = touch.read_text().split()
    except (OSError, ValueError):
        return (-1, -1)
    return int(epoch), int(batch)


def wait_until(condition, timeout: float, what: str) -> None:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> dict:
    """The final checkpoint of the resume tests' training run, uninterrupted, by Lightning's own 2-process launcher."""
    run = tmp_path_factory.mktemp("reference")
    result = run_script("train", *RUN, *DDP, f"hydra.run.dir={run}", cwd=run, env={**ENV, "GENLAB_CACHE_DIR": str(cache_dir)})
    assert result.returncode == 0, result.stderr[-3000:]
    return final_state(run)


def resumed_at(touch: Path) -> tuple[int, int]:
    """(epoch, batch) where both ranks' second process began training; their first began at (0, 0)."""
    starts = []
    for rank in (0, 1):
        lines = Path(f"{touch}.{rank}.starts").read_text().splitlines()
        starts.append([tuple(int(v) for v in line.split()[:2]) for line in lines])
    assert starts[0] == starts[1] and len(starts[0]) == 2 and starts[0][0] == (0, 0), starts
    return starts[0][1]


def assert_same_training(expected: dict, got: dict) -> None:
    assert got["global_step"] == expected["global_step"]
    for key, value in expected["state_dict"].items():
        assert torch.equal(value, got["state_dict"][key]), key
    for opt_expected, opt_got in zip(expected["optimizer_states"], got["optimizer_states"]):
        for param, state in opt_expected["state"].items():
            assert all(torch.equal(v, opt_got["state"][param][k]) for k, v in state.items())


def sweep_in_background(tmp_path: Path, cache_dir: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "genlab.train", "-m", *args]
    full_env = {**os.environ, "GENLAB_CACHE_DIR": str(cache_dir), **ENV, **env}
    return subprocess.Popen(command, cwd=tmp_path, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_requeued_slurm_job_resumes_from_last_ckpt_to_the_weights_of_an_uninterrupted_run(reference, tmp_path, cache_dir, slurm, slurm_env):
    """scontrol requeue while the job is in the middle of its second epoch: Slurm kills and restarts
    it, `ckpt_path=auto` resumes from the job dir's last.ckpt, and it ends bit-identical to the same
    training run uninterrupted by Lightning's own 2-process launcher."""
    touch, sweep = tmp_path / "at", tmp_path / "sweep"
    slow = ["+callbacks.slow._target_=tests.cluster.faults.Slow", "+callbacks.slow.seconds=0.5", f"+callbacks.slow.touch={touch}"]
    start = time.monotonic()
    proc = sweep_in_background(tmp_path, cache_dir, slurm_env, *SLURM, *RUN, *DDP, *slow, "ckpt_path=auto", f"hydra.sweep.dir={sweep}")
    try:
        wait_until(lambda: position(Path(f"{touch}.0")) >= (1, 3), 300, "the job to reach epoch 1, batch 3")
        (job_id,) = slurm.jobs()
        assert slurm.ok("scontrol", "requeue", job_id)
        slurm.release(job_id)
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    wall = time.monotonic() - start
    assert proc.returncode == 0, out[-3000:]
    assert slurm.job_state(job_id).get("Restarts") == "1"
    epoch, batch = resumed_at(touch)
    assert epoch == 1 and batch in (2, 4)  # from a last.ckpt in the middle of epoch 2 (one every 2 batches)
    assert_same_training(reference, final_state(sweep / "0"))
    print(f"requeue: resumed at epoch {epoch}, batch {batch}; sweep {wall:.1f} s")


def test_a_slurm_job_that_hits_its_time_limit_is_checkpointed_resubmitted_and_finishes(reference, tmp_path, cache_dir, slurm, slurm_env):
    """A 3-minute limit, signalled 2 minutes before: at the signal (USR2) submitit checkpoints the job (its
    overrides), requeues it (max_num_timeout=1 allows one), and the rerun resumes from last.ckpt and
    finishes, bit-identical to the uninterrupted run. The first run checkpoints after 2 quick batches,
    then trains slowly (8 s a batch) so that the signal (measured: up to 30 s early) finds it in
    training past a checkpoint; the rerun trains at full speed, within its own limit."""
    touch, sweep = tmp_path / "at", tmp_path / "sweep"
    slow = [
        "+callbacks.slow._target_=tests.cluster.faults.Slow",
        "+callbacks.slow.seconds=8",
        f"+callbacks.slow.touch={touch}",
        "+callbacks.slow.first_run_only=true",
        "+callbacks.slow.fast_first=2",
    ]
    limits = ["hydra.launcher.timeout_min=3", "hydra.launcher.signal_delay_s=120", "hydra.launcher.max_num_timeout=1"]
    start = time.monotonic()
    proc = sweep_in_background(tmp_path, cache_dir, slurm_env, *SLURM, *RUN, *DDP, *slow, *limits, "ckpt_path=auto", f"hydra.sweep.dir={sweep}")
    try:
        wait_until(lambda: slurm.jobs(), 60, "the job to be submitted")
        (job_id,) = slurm.jobs()
        slurm.release(job_id, timeout=150)  # once submitit requeued it at the signal
        out, _ = proc.communicate(timeout=240)
    finally:
        proc.kill()
    wall = time.monotonic() - start
    assert proc.returncode == 0, out[-3000:]
    log = "".join(p.read_text() for p in sweep.glob(".submitit/*/*_0_log.out"))
    assert "this job is timed-out" in log and "Requeued job" in log and "1 remaining timeouts" not in log
    assert slurm.job_state(job_id).get("Restarts") == "1"
    epoch, batch = resumed_at(touch)
    assert (epoch, batch) > (0, 0)  # resumed, not restarted
    assert json.loads((sweep / "0" / "result.json").read_text())["error"] is None
    assert_same_training(reference, final_state(sweep / "0"))
    print(f"time limit: resumed at epoch {epoch}, batch {batch}; sweep {wall:.1f} s")


def test_an_optuna_sweep_preset_on_the_slurm_launcher_completes_its_trials(cli, tmp_path, slurm, slurm_env):
    """hparams_search=vae_optuna with hydra/launcher=slurm: every trial a 2-task Slurm job, each
    result back in the study."""
    sweep = tmp_path / "sweep"
    preset = ["hparams_search=vae_optuna", "hydra.sweeper.n_trials=2", "model.nll_samples=2", "hydra.sweeper.pruner=none"]
    start = time.monotonic()
    result = cli(
        "train", *preset, *SLURM, *QUICK, "model.monitor=val/nll", "callbacks.sample_grid=null", f"hydra.sweep.dir={sweep}", env={**ENV, **slurm_env}
    )
    wall = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/result.json"))]
    assert len(outcomes) == 2 and all(o["error"] is None and o["value"] is not None for o in outcomes), outcomes
    assert len(list(sweep.glob(".submitit/*/*_submission.sh"))) == 2  # one Slurm job per trial
    assert "2 trials in" in result.stdout
    study = optuna.load_study(study_name="vae_digits", storage=f"sqlite:///{sweep / 'optuna.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert sorted(t.value for t in study.trials) == sorted(o["value"] for o in outcomes)
    print(f"optuna preset on slurm, 2 trials: {wall:.1f} s")


def test_genlab_train_in_a_batch_script_without_srun_stops_with_one_sentence(tmp_path, cache_dir, slurm, slurm_env):
    """Without srun Lightning reads the job's SLURM_NTASKS=2 but only one process exists: rank 0 would
    wait for rank 1 (measured: until trainer.strategy.timeout). genlab says so before training."""
    out = tmp_path / "job.out"
    command = f"{sys.executable} -m genlab.train trainer=ddp_cpu trainer.devices=2 {' '.join(QUICK)} hydra.run.dir={tmp_path / 'run'}"
    env = {**os.environ, **ENV, **slurm_env, "GENLAB_CACHE_DIR": str(cache_dir)}
    start = time.monotonic()
    sbatch = ["sbatch", "--wait", "--ntasks-per-node=2", "--cpus-per-task=1", f"--output={out}", f"--chdir={tmp_path}", "--wrap", command]
    result = subprocess.run(sbatch, capture_output=True, text=True, env=env, timeout=300)
    wall = time.monotonic() - start
    assert result.returncode != 0
    log = out.read_text()
    assert "runs in a Slurm job of 2 tasks but not under srun" in log and "Traceback" not in log, log[-3000:]
    print(f"batch script without srun: failed after {wall:.1f} s")
