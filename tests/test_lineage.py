"""genlab-eval says which checkpoint it scored and whether its run saved a better one."""

from __future__ import annotations

import torch

from genlab.checkpoint import describe_lineage, lineage


def state(current: float, best: float, best_path: str) -> dict:
    key = "ModelCheckpoint{'monitor': 'val/nll', 'mode': 'min'}"
    return {
        "epoch": 40,
        "global_step": 1800,
        "callbacks": {
            key: {
                "monitor": "val/nll",
                "mode": "min",
                "current_score": torch.tensor(current),
                "best_model_score": torch.tensor(best),
                "best_model_path": best_path,
            }
        },
    }


def test_an_overfit_last_checkpoint_points_to_the_better_best_one(tmp_path):
    best = tmp_path / "best.ckpt"
    best.write_bytes(b"")
    info = lineage(tmp_path / "last.ckpt", state(current=3.05, best=1.78, best_path=str(best)))
    assert info["better_exists"] and round(info["score"], 4) == 3.05 and round(info["best_score"], 4) == 1.78
    text = describe_lineage(info)
    assert "(epoch 40, global step 1800; val/nll 3.05 when saved)" in text
    assert f"a better checkpoint of this run exists: {best} (val/nll 1.78); evaluate it with ckpt_path={best}" in text


def test_the_best_checkpoint_says_so(tmp_path):
    best = tmp_path / "best.ckpt"
    info = lineage(best, state(current=1.78, best=1.78, best_path=str(best)))
    assert not info["better_exists"] and describe_lineage(info).endswith("no checkpoint of its run is better by val/nll")


def test_a_checkpoint_without_a_monitor_reports_its_step_only(tmp_path):
    info = lineage(tmp_path / "last.ckpt", {"epoch": 3, "global_step": 60, "callbacks": {}})
    assert describe_lineage(info) == f"scored {tmp_path / 'last.ckpt'} (epoch 3, global step 60)"
