"""Logger helpers: a wandb logger that goes offline by itself, and image logging for any logger."""

from __future__ import annotations

import logging
import netrc
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_info
from pytorch_lightning.utilities.rank_zero import rank_zero_only
from torch import Tensor

from genlab.history import ResumableWandbLogger
from genlab.images import to_uint8
from genlab.launch import quiet_srun_hint


class _NoProductTips(logging.Filter):
    """Drops Lightning's "💡 Tip: try installing litlogger / litmodels" lines, printed on every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_lightning_tips() -> None:
    """Keep genlab's output to what the run does (Lightning logs its rank-zero messages under either name)."""
    quiet_srun_hint()  # Lightning's "srun available but not used", outside Slurm jobs
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoProductTips) for f in logger.filters):
            logger.addFilter(_NoProductTips())


def wandb_credentials_present() -> bool:
    """True when an API key is configured (env var, or a netrc entry for the wandb host)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1].split("/")[0]
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def git_commit() -> str | None:
    """The commit of the genlab checkout being run (with "-dirty" if it has local changes), else None."""
    try:
        return _git("rev-parse", "HEAD") + ("-dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _git(*args: str) -> str:
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True).stdout.strip()


def run_info() -> dict[str, Any]:
    """What the resolved config does not say: the command-line overrides, the git commit, the sweep."""
    info: dict[str, Any] = {"git_commit": git_commit()}
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        info["overrides"] = list(hc.overrides.task)
        if hc.mode == RunMode.MULTIRUN:
            info.update(sweep_dir=str(hc.sweep.dir), job_num=hc.job.num)
    return info


def persistent_run_id(save_dir: str | Path) -> str:
    """The wandb run id of this run dir, created once: a run resumed in its dir logs into the same wandb run."""
    path = Path(save_dir) / "wandb" / "run_id"
    if path.is_file():
        return path.read_text().strip()
    run_id = uuid.uuid4().hex[:12]
    if rank_zero_only.rank == 0:  # only rank 0 logs to wandb
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(run_id)
    return run_id


def wandb_logger(
    save_dir: str, offline: bool | None = None, group: str | None = None, tags: list[str] | None = None, name: str | None = None, **kwargs: Any
) -> WandbLogger:
    """WandbLogger writing under the run dir; offline when `offline` is None and no account is configured.

    One wandb run per run dir (its id is kept in `<save_dir>/wandb/run_id`, so a resumed run
    continues it); in a sweep, runs are grouped by the sweep dir and named after the job; tags
    always include the model and dataset config choices.
    """
    if offline is None:
        offline = os.environ.get("WANDB_MODE") in ("offline", "dryrun") or not wandb_credentials_present()
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    if offline:
        rank_zero_info(f"wandb: no credentials configured, logging offline; upload later with `wandb sync {save_dir}/wandb/offline-run-*`")
    tags = list(tags or [])
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        tags += [str(hc.runtime.choices[g]) for g in ("model", "dataset") if hc.runtime.choices.get(g) and str(hc.runtime.choices[g]) not in tags]
        if hc.mode == RunMode.MULTIRUN:
            group = group or str(hc.sweep.dir)
            name = name or f"{Path(str(hc.sweep.dir)).name}/{hc.job.num}: {hc.job.override_dirname}"
    return ResumableWandbLogger(
        save_dir=save_dir, offline=offline, id=persistent_run_id(save_dir), resume="allow", group=group, tags=tags, name=name, **kwargs
    )


def logger_step(trainer: Any) -> int:
    """The step Lightning keys logged rows by (training batches so far), so images line up with
    scalars; `trainer.global_step` counts optimizer steps (two per GAN batch)."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def log_image(logger: Logger, key: str, grid: Tensor, step: int) -> None:
    """Log one [-1, 1] C x H x W grid to TensorBoard or wandb; other loggers take no images."""
    image = to_uint8(grid[None])[0]
    if isinstance(logger, WandbLogger):
        logger.log_image(key=key, images=[image.permute(1, 2, 0).numpy()], step=step)
    elif isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(key, image, global_step=step)
