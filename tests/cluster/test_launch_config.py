"""The Slurm launcher's config: GPUs requested only for GPU trainers, one task per device, the timeout key."""

from __future__ import annotations

import os
import warnings
from datetime import timedelta

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import OmegaConf

import genlab.launch  # noqa: F401  (registers the launcher config's resolver, as genlab-train does)
from genlab.configs import config_dir
from genlab.errors import ConfigError
from genlab.launch import SRUN_HINT, check_slurm_step
from genlab.loggers import quiet_lightning_tips
from genlab.strategies import SeparateDDPStrategy


def launcher(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", *overrides], return_hydra_config=True)
    GlobalHydra.instance().clear()
    return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)


def test_the_slurm_launcher_asks_for_gpus_only_for_gpu_trainers_and_one_task_per_device():
    cpu = launcher("trainer=ddp_cpu", "trainer.devices=2")
    assert cpu["gpus_per_node"] is None and cpu["tasks_per_node"] == 2 and cpu["nodes"] == 1
    gpu = launcher("trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2")
    assert gpu["gpus_per_node"] == 4 and gpu["tasks_per_node"] == 4 and gpu["nodes"] == 2
    assert "export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK" in gpu["setup"]


def test_the_process_group_timeout_is_seconds_in_the_config():
    assert SeparateDDPStrategy(timeout=10)._timeout == timedelta(seconds=10)
    assert SeparateDDPStrategy()._timeout == timedelta(minutes=30)  # torch's default when unset


def test_a_multi_task_slurm_job_without_srun_is_a_config_error(monkeypatch):
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    monkeypatch.delenv("SLURM_STEP_ID", raising=False)
    with pytest.raises(ConfigError, match="runs in a Slurm job of 2 tasks but not under srun"):
        check_slurm_step(world_size=2)
    check_slurm_step(world_size=1)  # one process needs no srun
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    check_slurm_step(world_size=2)  # a task srun started


@pytest.fixture
def srun_installed(tmp_path, monkeypatch):
    """An executable `srun` first on PATH (where Lightning looks for it), and no Slurm job around."""
    srun = tmp_path / "bin" / "srun"
    srun.parent.mkdir()
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{srun.parent}:{os.environ['PATH']}")
    for key in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(key)


def srun_hints() -> list[str]:
    """Lightning's warnings while it looks for a Slurm environment (as every Trainer does), after genlab quieted its tips."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning_tips()
        SLURMEnvironment.detect()
    return [str(w.message) for w in caught if SRUN_HINT in str(w.message)]


def test_lightnings_srun_hint_is_dropped_outside_slurm_jobs_and_kept_inside_them(srun_installed, monkeypatch):
    assert srun_hints() == []  # a local run on a machine with Slurm installed
    monkeypatch.setenv("SLURM_JOB_ID", "7")  # an sbatch script that runs genlab-train without srun
    assert len(srun_hints()) == 1
