"""genlab-train / genlab-sample end to end, as a user runs them: console scripts in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

QUICK = ["debug=limit", "trainer.max_epochs=1", "dataset.batch_size=32", "trainer.log_every_n_steps=1"]


def run_dir(tmp_path: Path) -> list[str]:
    return [f"hydra.run.dir={tmp_path / 'run'}"]


def test_train_then_sample_writes_uint8_images_of_the_right_shape(cli, tmp_path):
    train = cli("train", *QUICK, *run_dir(tmp_path))
    assert train.returncode == 0, train.stderr[-3000:]
    run = tmp_path / "run"
    assert train.stdout.strip().splitlines()[-1] == f"genlab: outputs in {run}"
    assert {"config.yaml", "metrics.csv", "checkpoints", "samples", ".hydra"} <= {p.name for p in run.iterdir()}
    assert (run / "samples" / "epoch_000.png").is_file()
    ckpt = run / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True)["genlab"]["model"]["_target_"] == "genlab.models.gan.GAN"

    sample = cli("sample", f"ckpt_path={ckpt}", "num_samples=70", "batch_size=32", f"out={tmp_path / 'out'}")
    assert sample.returncode == 0, sample.stderr[-3000:]
    images = np.load(tmp_path / "out" / "samples.npz")["images"]
    assert images.shape == (70, 16, 16, 1) and images.dtype == np.uint8
    assert (tmp_path / "out" / "grid.png").is_file()
    assert str(tmp_path / "out" / "samples.npz") in sample.stdout


def test_vae_checkpoint_samples_without_the_training_config(cli, tmp_path):
    assert cli("train", "model=vae", "model.nll_samples=4", *QUICK, *run_dir(tmp_path)).returncode == 0
    run = tmp_path / "run"
    assert (run / "checkpoints" / "best.ckpt").is_file()  # the VAE monitors val/nll
    sample = cli("sample", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "num_samples=5", f"out={tmp_path / 'out'}")
    assert sample.returncode == 0, sample.stderr[-3000:]
    assert np.load(tmp_path / "out" / "samples.npz")["images"].shape == (5, 16, 16, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model=gann"], "Could not find 'model/gann'"),
        (["model.lrr=1"], "Key 'lrr' not in 'GANConfig'"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs"),
        (["dataset=mnist", "dataset.data_dir=/no/such/dir"], "dataset.data_dir=/no/such/dir does not exist"),
        (["dataset.image_size=12"], "image_size=12: DCGAN nets take 8, 16, 32, 64 or 28 px"),
    ],
)
def test_bad_input_fails_fast_with_a_message_and_no_traceback(cli, tmp_path, args, message):
    result = cli("train", *args, *run_dir(tmp_path))
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_sample_rejects_a_missing_checkpoint(cli, tmp_path):
    result = cli("sample", f"ckpt_path={tmp_path / 'nope.ckpt'}")
    assert result.returncode == 2 and "no such file" in result.stderr and "Traceback" not in result.stderr


def test_wandb_logger_writes_an_offline_run_in_the_run_dir(cli, tmp_path):
    result = cli("train", "logger=wandb", *QUICK, *run_dir(tmp_path), env={"WANDB_API_KEY": "", "WANDB_MODE": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert "wandb sync" in result.stdout + result.stderr


def test_basic_sweep_runs_one_job_per_value_each_in_its_own_dir(cli, tmp_path):
    sweep = tmp_path / "sweep"
    result = cli("train", "-m", "model=vae", "model.nll_samples=2", "model.lr=1e-3,2e-3", *QUICK, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
    assert [OmegaConf.load(sweep / job / "config.yaml").model.lr for job in "01"] == [1e-3, 2e-3]


@pytest.mark.parametrize(
    "args",
    [
        ["trainer.devices=2", "trainer.accelerator=cpu", "trainer.strategy=ddp_spawn"],  # the GAN under plain DDP
        ["model=vae", "model.nll_samples=2", "trainer=ddp_cpu"],
    ],
    ids=["gan-ddp_spawn", "vae-ddp"],
)
def test_ddp_on_two_cpu_processes_keeps_every_weight_identical(cli, tmp_path, args):
    sync = tmp_path / "sync.json"
    result = cli(
        "train", *args, *QUICK, *run_dir(tmp_path), "+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck", f"+callbacks.sync.path={sync}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(sync.read_text())
    assert report["world_size"] == 2
    assert report["parameters"][0] == report["parameters"][1]
