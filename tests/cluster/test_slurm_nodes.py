"""genlab on a two-node Slurm (tests/cluster/multinode.py: two slurmd, each in its own network and UTS
namespace): `hydra/launcher=slurm trainer.num_nodes=2 trainer.devices=1` runs one task per node, with
ranks from Slurm, and trains exactly as one machine's 2-process run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.cluster.conftest import RUN
from tests.cluster.multinode import TwoNodeSlurm
from tests.cluster.netns import cannot
from tests.cluster.slurm import missing
from tests.conftest import REPO
from tests.test_resume import final_state

pytestmark = pytest.mark.cluster

ENV = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodeSlurm]:
    reason = missing() or cannot()
    if reason:
        pytest.skip(reason)
    cluster = TwoNodeSlurm(Path(tmp_path_factory.mktemp("slurm2")))
    cluster.create_network()
    try:
        cluster.start()  # installed but not starting is a failure, not a skip
        yield cluster
    finally:
        cluster.stop()
        cluster.remove_network()
    assert not cluster.exists()


def test_a_two_node_slurm_job_runs_one_task_per_node_and_trains_like_two_processes_on_one_machine(cli, tmp_path, two_nodes, two_processes):
    sweep, samples = tmp_path / "sweep", tmp_path / "samples"
    nodes = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "trainer=ddp_cpu", "trainer.num_nodes=2", "trainer.devices=1"]
    record = [
        "+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck",
        "+callbacks.sync.path=${paths.output_dir}/sync.json",
        "+callbacks.ranks._target_=tests.cluster.faults.RecordRank",
        "+callbacks.ranks.path=${paths.output_dir}/rank",
        "+callbacks.samples._target_=tests.cluster.faults.RecordSamples",
        f"+callbacks.samples.path={samples}",
    ]
    start = time.monotonic()
    result = cli("train", "-m", *nodes, *RUN, *record, f"hydra.sweep.dir={sweep}", env={**ENV, **two_nodes.env}, timeout=300)
    wall = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-3000:]
    job = sweep / "0"
    submission = next(sweep.glob(".submitit/*/*_submission.sh")).read_text()
    assert "#SBATCH --nodes=2" in submission and "#SBATCH --ntasks-per-node=1" in submission

    # One task on each node (its own host name and address), ranks from Slurm.
    ranks = [json.loads((job / f"rank.{r}.json").read_text()) for r in (0, 1)]
    assert [r["environment"] for r in ranks] == ["SLURMEnvironment"] * 2
    assert [(r["global_rank"], r["slurm_procid"], r["slurm_nodeid"], r["host"], r["world_size"]) for r in ranks] == [
        (0, "0", "0", "n0", 2),
        (1, "1", "1", "n1", 2),
    ]

    # Identical weights on both nodes, equal to one machine's 2-process run with the same global batch.
    sync = json.loads((job / "sync.json").read_text())
    assert sync["world_size"] == 2 and sync["parameters"][0] == sync["parameters"][1]
    expected, got = final_state(two_processes), final_state(job)
    assert expected["global_step"] == got["global_step"] > 0
    for key, value in expected["state_dict"].items():
        assert torch.equal(value, got["state_dict"][key]), key

    # Each node trained on its own half of the data.
    seen = [(samples.parent / f"samples.{r}").read_text().split() for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) > 0 and not set(seen[0]) & set(seen[1])

    # Written once, by rank 0; rank 1 only its own log (the job dir is on a filesystem both nodes share).
    assert (job / "train.log").read_text().count("Job completed successfully") <= 1
    assert (job / "train_ddp_process_1.log").is_file() and not list(job.glob("train_ddp_process_0*"))
    assert len(list(job.glob("checkpoints/*.ckpt"))) == 1 and json.loads((job / "result.json").read_text())["error"] is None
    assert len(list(job.glob("**/hparams.yaml"))) == 1 and len(list(job.glob("**/.hydra"))) == 1
    two_nodes.wait_idle()
    assert not two_nodes.jobs()
    print(f"two-node slurm job: {wall:.1f} s")
