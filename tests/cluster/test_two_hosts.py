"""Two hosts over a network, torchrun-style: each network namespace runs one node of
`trainer=ddp_cpu trainer.num_nodes=2 trainer.devices=1` with MASTER_ADDR/MASTER_PORT/NODE_RANK set,
the path Lightning takes on clusters without Slurm."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.cluster.conftest import RUN
from tests.cluster.netns import TwoHosts, cannot
from tests.cluster.procs import wait_for
from tests.conftest import REPO
from tests.test_resume import final_state

pytestmark = pytest.mark.cluster

SYNC = ["+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck", "+callbacks.sync.path=${paths.output_dir}/sync.json"]
#: Seconds a collective waits for a silent peer in these tests (trainer.strategy.timeout).
TIMEOUT_S = 10


@pytest.fixture
def hosts() -> Iterator[TwoHosts]:
    reason = cannot()
    if reason:
        pytest.skip(reason)
    net = TwoHosts()
    net.create()
    try:
        yield net
    finally:
        net.remove()
        assert not net.exists()


def start_nodes(net: TwoHosts, tmp_path: Path, cache_dir: Path, *args: str) -> list[subprocess.Popen]:
    """Node 0 in the first namespace, node 1 in the second; each writes into its own run dir (its own disk)."""
    port = str(random.randint(20000, 60000))
    procs = []
    for rank, host in enumerate(net.hosts):
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "GENLAB_CACHE_DIR": str(cache_dir),
            "OMP_NUM_THREADS": "1",
            "MASTER_ADDR": net.hosts[0].address,
            "MASTER_PORT": port,
            "NODE_RANK": str(rank),
            # gloo binds to the address the host name resolves to (here 127.0.0.1): name the interface between the hosts.
            "GLOO_SOCKET_IFNAME": host.ifname,
        }
        command = host.command(
            sys.executable, "-m", "genlab.train", "trainer=ddp_cpu", "trainer.num_nodes=2", "trainer.devices=1",
            *RUN, *args, f"hydra.run.dir={tmp_path / f'node{rank}'}",
        )  # fmt: skip
        log = (tmp_path / f"node{rank}.log").open("w")
        procs.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def test_two_nodes_over_a_network_train_like_one_machine_with_two_processes(tmp_path, cache_dir, hosts, two_processes):
    samples = tmp_path / "samples"
    record = ["+callbacks.samples._target_=tests.cluster.faults.RecordSamples", f"+callbacks.samples.path={samples}"]
    start = time.monotonic()
    procs = start_nodes(hosts, tmp_path, cache_dir, *SYNC, *record)
    codes = [p.wait(timeout=300) for p in procs]
    wall = time.monotonic() - start
    assert codes == [0, 0], [(tmp_path / f"node{r}.log").read_text()[-2000:] for r in (0, 1)]
    node0, node1 = tmp_path / "node0", tmp_path / "node1"

    # Identical weights on both nodes, and equal to one machine's 2-process run with the same global batch.
    sync = json.loads((node0 / "sync.json").read_text())
    assert sync["world_size"] == 2 and sync["parameters"][0] == sync["parameters"][1]
    expected, got = final_state(two_processes), final_state(node0)
    assert expected["global_step"] == got["global_step"] > 0
    for key, value in expected["state_dict"].items():
        assert torch.equal(value, got["state_dict"][key]), key

    # Only global rank 0 writes checkpoints, grids, the CSV logger's files and the run's records.
    for name in ("checkpoints", "samples", "hparams.yaml", "config.yaml", "result.json", "sync.json"):
        assert (node0 / name).exists() and not (node1 / name).exists(), name

    # Each node trained on its own half of the data.
    seen = [(samples.parent / f"samples.{r}").read_text().split() for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) > 0 and not set(seen[0]) & set(seen[1])
    print(f"two hosts: {wall:.1f} s")


@pytest.mark.parametrize("fault", ["kill", "partition"])
def test_when_one_node_dies_the_other_fails_within_the_process_group_timeout(tmp_path, cache_dir, hosts, fault):
    """kill: node 1's process is SIGKILLed (its sockets close); partition: its link goes down, as when a
    host loses power (nothing closes, only the timeout ends the wait)."""
    touch = tmp_path / "at"
    slow = ["+callbacks.slow._target_=tests.cluster.faults.Slow", "+callbacks.slow.seconds=0.5", f"+callbacks.slow.touch={touch}"]
    procs = start_nodes(hosts, tmp_path, cache_dir, *slow, f"trainer.strategy.timeout={TIMEOUT_S}")
    try:
        assert wait_for([Path(f"{touch}.0"), Path(f"{touch}.1")], 180), (tmp_path / "node0.log").read_text()[-2000:]
        start = time.monotonic()
        if fault == "kill":
            procs[1].kill()
        else:
            hosts.partition()
        code = procs[0].wait(timeout=TIMEOUT_S + 60)
        waited = time.monotonic() - start
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert code != 0
    assert waited < TIMEOUT_S + 30  # not torch's 30-minute default
    print(f"{fault}: node 0 failed {waited:.1f} s after node 1 was lost")
