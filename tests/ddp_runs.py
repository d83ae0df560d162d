"""Train one config as 2 DDP processes (gloo, 2 x 16 images) and as 1 process (32 images) through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import torch

SYNC = ["+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck"]


def final_state(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def two_processes_and_one(cli, tmp_path: Path, args: list[str]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(2-process state, 1-process state) after training `args` both ways with the same global batch;
    checks that both runs succeed, the two ranks ended identical and the checkpoints hold the same keys."""
    sync = tmp_path / "sync.json"
    ddp = cli("train", *args, *SYNC, f"+callbacks.sync.path={sync}", "trainer=ddp_cpu", "dataset.batch_size=16", f"hydra.run.dir={tmp_path / 'ddp'}")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = cli("train", *args, "trainer=cpu", "dataset.batch_size=32", f"hydra.run.dir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr[-3000:]
    report = json.loads(sync.read_text())
    assert report["world_size"] == 2 and report["parameters"][0] == report["parameters"][1]
    distributed, single = final_state(tmp_path / "ddp"), final_state(tmp_path / "one")
    assert list(distributed) == list(single)  # identical checkpoint keys
    return distributed, single
