"""genlab-train: compose the config, build data, model, callbacks, loggers and trainer, then fit.

Returns the optimized metric (`optimized_metric`) so Hydra sweepers can minimise it.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.utilities import rank_zero_only

from genlab.callbacks import AtomicCheckpointIO, NonFiniteLossError
from genlab.checkpoint import check_resume, check_weights
from genlab.configs import check_ranges, config_dir
from genlab.errors import ConfigError, instantiate, report_config_errors
from genlab.history import ContinuesHistory, ResumePoint
from genlab.launch import check_slurm_step, die_with_launcher, supervised_ranks
from genlab.loggers import quiet_lightning_tips, run_info
from genlab.models.base import GenerativeModule
from genlab.rundir import check_new_run_dir
from genlab.strategies import close_process_group
from genlab.sweeps import in_multirun, sweep_job, write_result

log = logging.getLogger(__name__)


def build_model(cfg: DictConfig) -> GenerativeModule:
    """Instantiate `cfg.model` and attach the resolved model/dataset config that checkpoints carry."""
    model = instantiate(cfg.model)
    model.genlab_config = {
        "model": OmegaConf.to_container(cfg.model, resolve=True, enum_to_str=True),
        "dataset": OmegaConf.to_container(cfg.dataset, resolve=True, enum_to_str=True),
    }
    return model


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a dict-valued group (callbacks, logger); null entries, and entries
    whose factory returns None (a progress bar with `trainer.enable_progress_bar=false`), are skipped."""
    built = [instantiate(node) for node in (group or {}).values() if node is not None]
    return [obj for obj in built if obj is not None]


@rank_zero_only
def save_resolved_config(cfg: DictConfig, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)


def check_compatible(model: GenerativeModule, datamodule: pl.LightningDataModule) -> None:
    """One sentence at start-up, not a traceback mid-epoch, when the data is not what the model trains on."""
    needed = model.datamodule_type
    if isinstance(datamodule, needed):
        return
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    what = " ".join((needed.__doc__ or "").split()).split(". ")[0].rstrip(".")  # its docstring's first sentence
    raise ConfigError(
        f"model={choices.get('model', type(model).__name__)} needs a dataset that offers genlab.contracts.{needed.__name__} ({what}), "
        f"but dataset={choices.get('dataset', '?')} builds a {type(datamodule).__name__}"
    )


def resolve_resume(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from; resuming continues in that checkpoint's run dir.

    `ckpt_path=last` means `<run dir>/checkpoints/last.ckpt` of this run (give the run dir with
    `hydra.run.dir=...`); `auto` is the same but starts afresh when there is none yet (jobs that a
    cluster requeues); an explicit `<run>/checkpoints/*.ckpt` of a genlab run dir makes
    `paths.output_dir` that run dir, so checkpoints, logs and the wandb run continue there.
    """
    if cfg.ckpt_path is None:
        return None
    if cfg.ckpt_path in ("last", "auto"):
        path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        if cfg.ckpt_path == "auto" and not path.is_file():
            return None
        if not path.is_file():
            raise ConfigError(f"ckpt_path=last: no {path}; pass the run dir to resume with hydra.run.dir=<run dir>, or a checkpoint file")
    else:
        path = Path(cfg.ckpt_path).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"ckpt_path={cfg.ckpt_path}: no such file")
    run = path.parent.parent
    if path.parent.name == "checkpoints" and (run / "config.yaml").is_file():
        with open_dict(cfg):
            cfg.paths.output_dir = str(run)  # everything else interpolates ${paths.output_dir}
    return str(path)


def train(cfg: DictConfig) -> float | None:
    """Fit the configured model; return the value of `cfg.optimized_metric` (None if unset)."""
    quiet_lightning_tips()
    check_ranges(cfg)
    if cfg.seed is not None:
        pl.seed_everything(cfg.seed, workers=True)
    ckpt_path = resolve_resume(cfg)
    # Read and checked (weights_only, allow-listed targets, same family) before Lightning loads it.
    resumed = check_resume(ckpt_path, cfg.model) if ckpt_path else None
    output_dir = Path(cfg.paths.output_dir)
    check_new_run_dir(cfg, output_dir)  # hydra.run.dir was checked before Hydra wrote there (RunDirGuard)
    datamodule = instantiate(cfg.dataset)
    model = build_model(cfg)
    check_compatible(model, datamodule)
    if resumed is not None:
        check_weights(ckpt_path, resumed["state_dict"], model)
    callbacks = instantiate_group(cfg.callbacks)
    loggers = instantiate_group(cfg.logger)
    if resumed is not None:  # loggers continue the run's records, each step once (genlab.history)
        point = ResumePoint.of(resumed)
        for recorder in (*loggers, *callbacks):
            if isinstance(recorder, ContinuesHistory):
                recorder.continue_history(point)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()])
    check_slurm_step(trainer.world_size)
    save_resolved_config(cfg, output_dir)
    for logger in loggers:
        logger.log_hyperparams({**OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), "run": run_info()})

    del resumed  # Lightning reads the file itself
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metric = trainer.callback_metrics.get(cfg.optimized_metric) if cfg.optimized_metric else None
    if cfg.test:
        trainer.test(model, datamodule=datamodule)
    value = None if metric is None else float(metric)
    value = value if value is None or math.isfinite(value) else math.inf
    if trainer.is_global_zero:
        write_result(output_dir, cfg.optimized_metric, value)
    return value


def _finish_wandb() -> None:
    """One wandb run per Hydra job: close it even when the job fails (multirun reuses the process)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
@report_config_errors
def main(cfg: DictConfig) -> float | None:
    die_with_launcher()  # a rank Lightning started ends with the process that started it
    try:
        with sweep_job(), supervised_ranks():
            metric = train(cfg)
    except ConfigError:
        raise  # bad input fails every trial alike: stop with one sentence (report_config_errors)
    except Exception as err:
        if not in_multirun():
            if isinstance(err, NonFiniteLossError):
                print(f"genlab: error: {err}", file=sys.stderr)
                raise SystemExit(1) from None
            raise
        # A diverged or crashed trial scores inf, so the sweeper (Optuna) records it and goes on.
        log.exception("genlab: trial failed, reporting inf to the sweeper")
        if rank_zero_only.rank == 0:  # on Slurm every rank runs the sweep job: one result file, rank 0's
            write_result(cfg.paths.output_dir, cfg.optimized_metric, math.inf, f"{type(err).__name__}: {err}")
        return math.inf
    finally:
        _finish_wandb()
        close_process_group()  # a sweep job's is closed already (sweep_job)
    rank_zero_only(print)(f"genlab: outputs in {cfg.paths.output_dir}")
    return metric


if __name__ == "__main__":
    main()
