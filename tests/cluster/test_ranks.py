"""No orphaned ranks: a DDP job (Lightning's subprocess launcher, `trainer=ddp_cpu`) whose rank fails,
hangs or is interrupted takes all of its processes down within a bounded time; a sweep scores the
job inf and goes on (genlab.launch)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.procs import kill_marked, marked, new_mark, wait_for, wait_gone
from tests.conftest import REPO

# Two gloo ranks, a few batches, nothing but training.
DDP = [
    "trainer=ddp_cpu",
    "debug=limit",
    "trainer.max_epochs=1",
    "dataset.batch_size=16",
    "logger=[]",
    "callbacks.sample_metrics=null",
    "callbacks.sample_grid=null",
    "model.monitor=null",
    "trainer.enable_progress_bar=false",
]
FAIL = "+callbacks.fail._target_=tests.cluster.faults.FailAt"
#: Seconds a job's processes may take to be gone once its launcher returned.
GONE_S = 10


@pytest.fixture
def mark():
    """The environment marker of this test's processes; anything left is killed after the test."""
    env = {**new_mark(), "PYTHONPATH": str(REPO)}
    yield env
    kill_marked(env)


@pytest.mark.parametrize("batch", ["2", pytest.param("null", marks=pytest.mark.cluster)])  # in training; before it (setup)
def test_a_sweep_scores_jobs_whose_rank_0_or_1_fails_inf_and_leaves_no_rank_behind(cli, tmp_path, mark, batch):
    sweep = tmp_path / "sweep"
    start = time.monotonic()
    result = cli("train", "-m", *DDP, FAIL, "+callbacks.fail.rank=0,1", f"+callbacks.fail.batch={batch}", f"hydra.sweep.dir={sweep}", env=mark)
    wall = time.monotonic() - start
    left, _ = wait_gone(mark, GONE_S)
    assert result.returncode == 0, result.stderr[-3000:]  # the sweep itself went on to the end
    assert not left, f"processes of the sweep still running: {left}"
    outcomes = [json.loads((sweep / str(job) / "result.json").read_text()) for job in range(2)]
    assert [o["value"] for o in outcomes] == [math.inf] * 2
    # Job 0: rank 0 failed, its own error. Job 1: rank 1 failed; the job names it, not the broken
    # process group that rank 0 ran into next.
    assert "injected fault on rank 0" in outcomes[0]["error"]
    assert outcomes[1]["error"].startswith("RankFailure: rank 1 exited with code 1; rank 0: ")
    assert "2 trials in" in result.stdout
    print(f"2-job failing sweep (fault at batch {batch}): {wall:.1f} s")


def test_a_rank_that_hangs_fails_the_run_within_the_process_group_timeout(cli, tmp_path, mark):
    start = time.monotonic()
    result = cli(
        "train", *DDP, FAIL, "+callbacks.fail.rank=1", "+callbacks.fail.batch=1", "+callbacks.fail.how=hang",
        "trainer.strategy.timeout=5", f"hydra.run.dir={tmp_path / 'run'}", env=mark, timeout=120,
    )  # fmt: skip
    wall = time.monotonic() - start
    left, _ = wait_gone(mark, GONE_S)
    assert result.returncode == 1, result.stderr[-3000:]
    assert not left
    assert wall < 60  # the 30-minute default would still be waiting
    print(f"hung rank 1, timeout 5 s: run failed after {wall:.1f} s")


@pytest.mark.cluster
@pytest.mark.parametrize("how", ["raise", "exit"])
def test_a_single_run_whose_rank_1_fails_ends_with_an_error_and_no_rank_left(cli, tmp_path, mark, how):
    result = cli(
        "train", *DDP, FAIL, "+callbacks.fail.rank=1", "+callbacks.fail.batch=1", f"+callbacks.fail.how={how}",
        f"hydra.run.dir={tmp_path / 'run'}", env=mark, timeout=120,
    )  # fmt: skip
    left, _ = wait_gone(mark, GONE_S)
    assert result.returncode == 1, result.stderr[-3000:]
    assert not left
    assert "RankFailure: rank 1 exited with code" in result.stderr  # the run names the rank that failed


def sigint_as_in_a_terminal() -> None:
    """SIGINT's default action in the child, as in a terminal, where Python turns Ctrl+C into
    KeyboardInterrupt. A suite started as a background job of a non-interactive shell (`bash
    .ci/run &`) hands its processes SIGINT ignored, and Python then keeps it ignored: the sweep would
    not see the interrupt (CI, 2026-12-01)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.cluster
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_an_interrupted_sweep_leaves_no_rank_behind(tmp_path, cache_dir, mark, signum):
    touch = tmp_path / "started"
    slow = ["+callbacks.slow._target_=tests.cluster.faults.Slow", "+callbacks.slow.seconds=0.5", f"+callbacks.slow.touch={touch}"]
    command = [sys.executable, "-m", "genlab.train", "-m", *DDP, *slow, "model.lr_g=1e-4,2e-4", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    env = {**os.environ, "GENLAB_CACHE_DIR": str(cache_dir), **mark}
    sweep = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_as_in_a_terminal
    )
    try:
        assert wait_for([Path(f"{touch}.0"), Path(f"{touch}.1")], 120), "the first job never reached training"
        assert len(marked(mark)) >= 2  # both ranks of job 0 run
        sweep.send_signal(signum)
        sweep.wait(timeout=60)
    finally:
        sweep.kill()
    left, waited = wait_gone(mark, GONE_S)
    assert not left, f"{signum.name}: processes still running after {waited:.1f} s: {left}"
    expected = {signal.SIGINT: 1, signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGKILL: -signal.SIGKILL}[signum]
    assert sweep.returncode == expected, sweep.stderr.read()[-3000:]  # an interrupted sweep does not end with 0
    assert not (tmp_path / "sweep" / "1").exists()  # the interrupted sweep did not go on to job 1


@pytest.mark.cluster
def test_a_ddp_sweep_on_the_joblib_launcher_runs_its_jobs_in_parallel_to_the_end_and_leaves_no_process(cli, tmp_path, mark):
    """hydra/launcher=parallel (joblib, 2 jobs at a time) with 2 ranks a job: each job's rank 0 runs
    in a joblib worker, which starts its rank 1 (genlab.sweeps.sweep_job); every job ends with
    identical weights on both ranks, and neither ranks nor joblib's workers outlive the sweep."""
    sweep = tmp_path / "sweep"
    sync = ["+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck", "+callbacks.sync.path=${paths.output_dir}/sync.json"]
    start = time.monotonic()
    result = cli(
        "train",
        "-m",
        "hydra/launcher=parallel",
        *DDP,
        *sync,
        "model.lr_g=1e-4,2e-4",
        f"hydra.sweep.dir={sweep}",
        env={**mark, "OMP_NUM_THREADS": "1"},
    )
    wall = time.monotonic() - start
    left, waited = wait_gone(mark, GONE_S)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not left, f"processes of the sweep still running {waited:.1f} s after it ended: {left}"
    for job in (sweep / "0", sweep / "1"):
        report = json.loads((job / "sync.json").read_text())
        assert report["world_size"] == 2 and report["parameters"][0] == report["parameters"][1]
        assert json.loads((job / "result.json").read_text())["error"] is None and (job / "train_ddp_process_1.log").is_file()
    assert "`srun` command is available" not in result.stderr  # Slurm is installed here, but this is no Slurm job
    print(f"2-job DDP sweep on the joblib launcher: {wall:.1f} s")
