"""Fixtures for the sweeper's tests: study storages (PostgreSQL from .ci/run, journal files) and
workers, each a `python -m tests.sweeps.app` process running genlab's Optuna sweeper."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POSTGRES_ENV = "GENLAB_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> str:
    """A PostgreSQL storage URL (.ci/run starts a throwaway server and exports it)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server to test on (.ci/run starts one)")
    return url


@pytest.fixture
def study_name() -> str:
    """A study name no other test (or earlier run on the same server) uses."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def start_worker(tmp_path: Path) -> Callable[..., subprocess.Popen]:
    """start_worker(name, storage, study, *overrides) -> a running sweeper process; its output in tmp_path/<name>.log."""
    started: list[subprocess.Popen] = []

    def _start(name: str, storage: str, study: str, *overrides: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("w")
        args = [f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={study}", f"hydra.sweep.dir={tmp_path / name}", *overrides]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "1"}
        process = subprocess.Popen([sys.executable, "-m", "tests.sweeps.app", *args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
        started.append(process)
        return process

    yield _start
    for process in started:  # a test that failed midway leaves no worker behind
        if process.poll() is None:
            process.kill()
            process.wait()


def output(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text()
