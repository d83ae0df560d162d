"""Slurm through Hydra's submitit launcher (`hydra/launcher=slurm`), as it runs on a real cluster.

- One Slurm task per device (`tasks_per_node = trainer.devices`), started by `srun`: Lightning's
  SLURMEnvironment reads SLURM_PROCID/LOCALID/NODEID/NTASKS and starts no processes itself.
- Every task runs the whole Hydra job, so without care each one writes `.hydra/` and appends to
  `train.log` in the job dir. `SlurmLauncher` gives ranks > 0 what Lightning's own launcher gives its
  children: no `.hydra/` of their own and a log named `train_ddp_process_<rank>.log`.
- GPUs are asked for only when the trainer runs on them (`gpus_per_node`, `genlab.launch.gpus_per_node`):
  a CPU job that asks for GPUs is refused by a cluster without them.
- A job killed from outside (OOM, SIGKILL, node failure) is a failed trial, not the end of the sweep
  (`results.py`); a ConfigError in a job still stops it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _SubmititSlurmLauncher
from omegaconf import OmegaConf, open_dict

from genlab.errors import ConfigError
from hydra_plugins.genlab_slurm_launcher.results import failed_trial, job_return, wait_for_jobs

log = logging.getLogger(__name__)


class JobExit(RuntimeError):
    """A task of a Slurm job exited on a ConfigError: recorded by submitit as the job's error (the sweep stops)."""


def rank_overrides(rank: int) -> list[str]:
    """Hydra overrides for the task of global rank `rank` (none for rank 0)."""
    if rank == 0:
        return []
    return ["hydra.output_subdir=null", f"hydra.job.name=train_ddp_process_{rank}"]


class SlurmLauncher(_SubmititSlurmLauncher):
    """Hydra's submitit Slurm launcher; ranks > 0 of a job write no job records of their own, and a job
    killed from outside is scored as a failed trial."""

    def __call__(self, sweep_overrides: list[str], *args: Any, **kwargs: Any) -> JobReturn:
        rank = int(os.environ.get("SLURM_PROCID", "0"))
        try:
            return super().__call__([*sweep_overrides, *rank_overrides(rank)], *args, **kwargs)
        except SystemExit as err:
            # genlab-train exits 2 on a ConfigError (bad input fails every trial alike: stop the sweep, as
            # a local sweep stops). Submitit records only Exceptions: re-raised as one, so that the sweep
            # stops with its message instead of scoring a job that left no result. Other exits (SIGTERM
            # at a requeue) stay exits.
            cause = err.__context__
            if isinstance(cause, ConfigError):
                raise JobExit(f"the job exited with code {err.code}: {cause}") from None
            raise

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        jobs = self.submit(job_overrides, initial_job_idx)
        wait_for_jobs(jobs)
        returns = []
        for idx, (job, overrides) in enumerate(zip(jobs, job_overrides), start=initial_job_idx):
            returns.append(job_return(job, lambda job, error, o=overrides, i=idx: self.killed(o, i, error)))
        return returns

    def killed(self, overrides: Sequence[str], idx: int, error: str) -> JobReturn:
        """The failed trial of job `idx`, its result.json in the job dir that job would have had."""
        assert self.hydra_context is not None and self.config is not None
        job_dir, metric = None, None
        try:
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg.hydra.job):
                cfg.hydra.job.num = idx
            job_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
            metric = OmegaConf.select(cfg, "optimized_metric", default=None)
        except Exception as err:  # the trial is still scored; only its result.json is missing
            log.warning(f"genlab: no result.json for job {idx}: {type(err).__name__}: {err}")
        return failed_trial(overrides, job_dir, metric, error)

    def submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[Any]:
        """Hydra's `BaseSubmititLauncher.launch` (hydra-submitit-launcher 1.2) up to the submission:
        the jobs, not yet their results."""
        import submitit

        assert self.config is not None and len(job_overrides) > 0
        init_keys = {"max_num_timeout", "submitit_folder"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=self.params["submitit_folder"],
            **{f"{self._EXECUTOR}_max_num_timeout": self.params[k] for k in ("max_num_timeout",) if k in self.params},
        )
        baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in baseparams else f"{self._EXECUTOR}_{k}": v for k, v in self.params.items() if k not in init_keys})
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {self.config.hydra.sweep.dir}")
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        job_params = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        return executor.map_array(self, *zip(*job_params))
