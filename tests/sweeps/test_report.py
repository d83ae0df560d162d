"""The sweep report (summary.csv and Optuna's matplotlib plots) and optuna-dashboard on a finished study."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from genlab.errors import ConfigError
from genlab.sweep_report import locate

from .conftest import REPO

PNG = b"\x89PNG\r\n\x1a\n"
PLOTS = ["optimization_history.png", "param_importances.png", "parallel_coordinate.png"]


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(sweep dir, storage URL, study name) of a 5-trial sweep of the small app, report included (made once)."""
    root = tmp_path_factory.mktemp("report")
    storage, name = f"sqlite:///{root / 'study.db'}", "reported"
    args = [f"hydra.sweeper.storage={storage}", f"hydra.sweeper.study_name={name}", f"hydra.sweep.dir={root / 'sweep'}"]
    args += ["hydra.sweeper.n_trials=5", "sleep=0", "hydra.sweeper.report=true"]
    result = subprocess.run([sys.executable, "-m", "tests.sweeps.app", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "sweep", storage, name


def read_summary(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_a_sweep_ends_with_a_report_of_its_study(finished_sweep):
    sweep, _, _ = finished_sweep
    rows = read_summary(sweep / "report" / "summary.csv")
    assert [row["state"] for row in rows] == ["COMPLETE"] * 5
    values = [float(row["value"]) for row in rows]
    assert values == sorted(values)  # best first
    assert all(abs(float(row["value"]) - (float(row["x"]) - 0.3) ** 2) < 1e-9 for row in rows)
    for plot in PLOTS:
        assert (sweep / "report" / plot).read_bytes().startswith(PNG)


def test_genlab_sweep_report_reads_a_storage_url_or_a_sweep_dir(finished_sweep, tmp_path):
    sweep, storage, name = finished_sweep
    result = subprocess.run(
        [sys.executable, "-m", "genlab.sweep_report", storage, "--out", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"study {name}: 5 trials" in result.stdout
    assert read_summary(tmp_path / "summary.csv") == read_summary(sweep / "report" / "summary.csv")
    assert all((tmp_path / plot).read_bytes().startswith(PNG) for plot in PLOTS)
    # A sweep dir names its study in study.json; a dir without one is an error in one sentence.
    assert locate(str(sweep), None) == (storage, name)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(ConfigError, match="no study.json or optuna.db"):
        locate(str(tmp_path / "elsewhere"), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:  # not listening yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_optuna_dashboard_serves_the_trials_of_a_finished_sweep(finished_sweep):
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed (pip install -e '.[sweep]')")
    _, storage, name = finished_sweep
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "optuna_dashboard._cli", storage, "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        studies = get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        (study,) = [s for s in studies if s["study_name"] == name]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{study['study_id']}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    trials = detail["trials"]
    assert sorted(t["number"] for t in trials) == list(range(5))
    assert all(t["state"] == "Complete" for t in trials)
    for trial in trials:  # the values and parameters the sweep recorded
        (x,) = [float(p["param_external_value"]) for p in trial["params"] if p["name"] == "x"]
        assert trial["values"][0] == pytest.approx((x - 0.3) ** 2)
