"""genlab-train: compose the config, build data, model, callbacks, loggers and trainer, then fit.

Returns the optimized metric (`optimized_metric`) so Hydra sweepers can minimise it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from genlab.configs import config_dir
from genlab.errors import instantiate, report_config_errors
from genlab.models.base import GenerativeModule


def build_model(cfg: DictConfig) -> GenerativeModule:
    """Instantiate `cfg.model` and attach the resolved model/dataset config that checkpoints carry."""
    model = instantiate(cfg.model)
    model.genlab_config = {
        "model": OmegaConf.to_container(cfg.model, resolve=True, enum_to_str=True),
        "dataset": OmegaConf.to_container(cfg.dataset, resolve=True, enum_to_str=True),
    }
    return model


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a dict-valued group (callbacks, logger); null entries are skipped."""
    return [instantiate(node) for node in (group or {}).values() if node is not None]


@rank_zero_only
def save_resolved_config(cfg: DictConfig, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)


def train(cfg: DictConfig) -> float | None:
    """Fit the configured model; return the value of `cfg.optimized_metric` (None if unset)."""
    if cfg.seed is not None:
        pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    datamodule = instantiate(cfg.dataset)
    model = build_model(cfg)
    callbacks = instantiate_group(cfg.callbacks)
    loggers = instantiate_group(cfg.logger)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    save_resolved_config(cfg, output_dir)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))

    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    metric = trainer.callback_metrics.get(cfg.optimized_metric) if cfg.optimized_metric else None
    if cfg.test:
        trainer.test(model, datamodule=datamodule)
    if metric is None:
        return None
    value = float(metric)
    return value if math.isfinite(value) else math.inf


def _finish_wandb() -> None:
    """One wandb run per Hydra job: close it even when the job fails (multirun reuses the process)."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
@report_config_errors
def main(cfg: DictConfig) -> float | None:
    try:
        metric = train(cfg)
    finally:
        _finish_wandb()
    rank_zero_only(print)(f"genlab: outputs in {cfg.paths.output_dir}")
    return metric


if __name__ == "__main__":
    main()
