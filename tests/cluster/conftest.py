"""The cluster suite's shared pieces: a one-node Slurm for the session (skipped, with the reason, where
Slurm/munge are not installed or we are not root)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.slurm import LocalSlurm, missing


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
