"""Slurm through Hydra's submitit launcher (`hydra/launcher=slurm`), as it runs on a real cluster.

- One Slurm task per device (`tasks_per_node = trainer.devices`), started by `srun`: Lightning's
  SLURMEnvironment reads SLURM_PROCID/LOCALID/NODEID/NTASKS and starts no processes itself.
- Every task runs the whole Hydra job, so without care each one writes `.hydra/` and appends to
  `train.log` in the job dir. `SlurmLauncher` gives ranks > 0 what Lightning's own launcher gives its
  children: no `.hydra/` of their own and a log named `train_ddp_process_<rank>.log`.
- GPUs are asked for only when the trainer runs on them (`gpus_per_node`, `genlab.launch.gpus_per_node`):
  a CPU job that asks for GPUs is refused by a cluster without them.
"""

from __future__ import annotations

import os
from typing import Any

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _SubmititSlurmLauncher


def rank_overrides(rank: int) -> list[str]:
    """Hydra overrides for the task of global rank `rank` (none for rank 0)."""
    if rank == 0:
        return []
    return ["hydra.output_subdir=null", f"hydra.job.name=train_ddp_process_{rank}"]


class SlurmLauncher(_SubmititSlurmLauncher):
    """Hydra's submitit Slurm launcher; ranks > 0 of a job write no job records of their own."""

    def __call__(self, sweep_overrides: list[str], *args: Any, **kwargs: Any) -> JobReturn:
        rank = int(os.environ.get("SLURM_PROCID", "0"))
        return super().__call__([*sweep_overrides, *rank_overrides(rank)], *args, **kwargs)
