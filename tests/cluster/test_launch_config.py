"""The Slurm launcher's config: GPUs requested only for GPU trainers, one task per device, the timeout key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import genlab.launch  # noqa: F401  (registers the launcher config's resolver, as genlab-train does)
from genlab.configs import config_dir
from genlab.errors import ConfigError
from genlab.launch import check_slurm_step
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
