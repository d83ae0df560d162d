"""The cluster suite's shared pieces: a one-node Slurm for the session (skipped, with the reason, where
Slurm/munge are not installed or we are not root)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.slurm import LocalSlurm, missing
from tests.conftest import run_script

#: A short DDP training run that the multi-node tests repeat across two nodes (any number of processes).
RUN = [
    "debug=limit",
    "trainer.max_epochs=1",
    "dataset.batch_size=16",
    "model.monitor=null",
    "callbacks.sample_metrics=null",
    "trainer.enable_progress_bar=false",
    "logger=csv",
]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    cluster = LocalSlurm(Path(tmp_path_factory.mktemp("slurm")))
    cluster.start()  # installed but not starting is a failure, not a skip
    yield cluster
    cluster.stop()


@pytest.fixture
def slurm_env(slurm: LocalSlurm) -> Iterator[dict[str, str]]:
    """Environment for a command that submits to the local Slurm, which has no job queued or running
    when the test starts (jobs a test leaves are cancelled)."""
    slurm.wait_idle()
    yield dict(slurm.env)
    slurm.cancel_all()
    slurm.wait_idle()


@pytest.fixture(scope="session")
def two_processes(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """The run dir of RUN on one machine, 2 processes started by Lightning: what two nodes with one
    process each, with the same global batch, must end bit-identical to."""
    run = tmp_path_factory.mktemp("two_processes")
    result = run_script(
        "train",
        "trainer=ddp_cpu",
        "trainer.devices=2",
        *RUN,
        f"hydra.run.dir={run}",
        cwd=run,
        env={"OMP_NUM_THREADS": "1", "GENLAB_CACHE_DIR": str(cache_dir)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run
