"""Logger helpers: a wandb logger that goes offline by itself, and image logging for any logger."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor

from genlab.images import to_uint8


def wandb_credentials_present() -> bool:
    """True when an API key is configured (env var, or a netrc entry for the wandb host)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1].split("/")[0]
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_logger(save_dir: str, offline: bool | None = None, **kwargs: Any) -> WandbLogger:
    """WandbLogger writing under the run dir; offline when `offline` is None and no account is configured."""
    if offline is None:
        offline = os.environ.get("WANDB_MODE") in ("offline", "dryrun") or not wandb_credentials_present()
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    if offline:
        rank_zero_info(f"wandb: no credentials configured, logging offline; upload later with `wandb sync {save_dir}/wandb/offline-run-*`")
    return WandbLogger(save_dir=save_dir, offline=offline, **kwargs)


def log_image(logger: Logger, key: str, grid: Tensor, step: int) -> None:
    """Log one [-1, 1] C x H x W grid to TensorBoard or wandb; other loggers take no images."""
    image = to_uint8(grid[None])[0]
    if isinstance(logger, WandbLogger):
        logger.log_image(key=key, images=[image.permute(1, 2, 0).numpy()], step=step)
    elif isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(key, image, global_step=step)
