"""Sample metrics during training: `val/fid`, `val/kid_mean`, ... every `every_n_epochs` epochs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from genlab.callbacks.pace import is_last_epoch
from genlab.history import Continuation, ResumePoint, cut_jsonl
from genlab.metrics import SampleMetrics, build_extractor, dataset_key
from genlab.metrics.extractors import ExtractorSpec, check_spec


class SampleMetricsCallback(pl.Callback):
    """Computes sample metrics of the model's `metric_streams` (the EMA generator's samples for GANs)
    against the `split` images and logs them as `<split>/<metric>`, so `val/fid` can be monitored
    by checkpoints, early stopping and sweeps.

    Runs at the end of validation every `every_n_epochs` epochs, at the last epoch, and whenever the
    monitored keys are not logged yet (first epoch of a run or of a resumed run), so a monitor never
    finds them missing. With `dirpath`, rank 0 appends each result and its protocol to
    `dirpath/metrics.jsonl`.
    """

    def __init__(
        self,
        features: ExtractorSpec,
        num_samples: int = 10000,
        every_n_epochs: int = 1,
        batch_size: int = 500,
        split: str = "val",
        cache_dir: str | None = None,
        dirpath: str | None = None,
        seed: int = 0,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        precision_recall_k: int = 3,
    ) -> None:
        self.spec = check_spec(features)
        self.every_n_epochs, self.split, self.dirpath = every_n_epochs, split, dirpath
        self.options = {
            "cache_dir": cache_dir,
            "num_samples": num_samples,
            "batch_size": batch_size,
            "seed": seed,
            "kid_subsets": kid_subsets,
            "kid_subset_size": kid_subset_size,
            "precision_recall_k": precision_recall_k,
        }
        self.metrics: SampleMetrics | None = None
        self.continuation: Continuation | None = None
        self.last: dict[str, float] = {}
        self.evaluated_epoch: int | None = None  # the epoch of the last evaluation (genlab.callbacks.EarlyStopping)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self.metrics is not None or trainer.fast_dev_run:
            return
        datamodule = trainer.datamodule
        saved = getattr(pl_module, "genlab_config", None) or {}  # set by genlab-train; absent for a bare module
        key = dataset_key(saved.get("dataset") or {"_target_": type(datamodule).__name__})
        extractor = build_extractor(self.spec, datamodule, key, self.options["cache_dir"])
        self.metrics = SampleMetrics(extractor, key, **self.options)
        info = {f"features/{k}": float(v) for k, v in extractor.info.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for logger in trainer.loggers:
            logger.log_hyperparams({"metrics_protocol": extractor.protocol()})
            if info:
                logger.log_metrics(info, step=0)

    def due(self, trainer: pl.Trainer) -> bool:
        epoch = trainer.current_epoch
        last = is_last_epoch(trainer)
        missing = f"{self.split}/fid" not in trainer.callback_metrics
        return missing or last or (epoch + 1) % self.every_n_epochs == 0

    def needs_validation(self, trainer: pl.Trainer) -> bool:
        """Its metrics run at the end of validation: this epoch's is needed when they are due."""
        return self.metrics is not None and self.due(trainer)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.metrics is None or trainer.sanity_checking or not self.due(trainer):
            return
        # Every rank computes its share; compute() gathers, so every rank gets (and logs) the same values.
        values, protocols = self.metrics.evaluate(pl_module, trainer.datamodule, self.split, pl_module.device)
        self.last, self.evaluated_epoch = values, trainer.current_epoch
        for name, value in values.items():
            pl_module.log(f"{self.split}/{name}", value, prog_bar=name == "fid", sync_dist=False)
        if self.dirpath and trainer.is_global_zero:
            self.append(trainer, values, protocols)

    def computed_this_epoch(self, trainer: pl.Trainer, name: str) -> bool | None:
        """Whether the logged metric `name` (e.g. "val/fid") was computed at this epoch; None if this
        callback does not compute it (or has not yet)."""
        if name not in {f"{self.split}/{key}" for key in self.last}:
            return None
        return self.evaluated_epoch == trainer.current_epoch

    def append(self, trainer: pl.Trainer, values: dict[str, float], protocols: dict[str, Any]) -> None:
        path = Path(self.dirpath) / "metrics.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "values": {f"{self.split}/{k}": v for k, v in values.items()},
            "protocol": protocols,
        }
        action = self.continuation.route(record["step"]) if self.continuation is not None else "write"
        if action == "skip":
            return
        if action == "cut":
            cut_jsonl(path, record["step"])
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def continue_history(self, point: ResumePoint) -> None:
        """On resume, metrics.jsonl keeps its records and gets each evaluation once (genlab.history)."""
        self.continuation = Continuation(point.global_step)
