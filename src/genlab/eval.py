"""genlab-eval: sample metrics (and likelihoods, where the model has them) of a checkpoint on a test split.

The model and its dataset are rebuilt from the checkpoint alone. Results go to the console (a table),
to `metrics.json` in the run dir (each number with its protocol) and to the configured loggers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from genlab.checkpoint import TRUSTED_TARGETS, describe_lineage, lineage, load_datamodule, load_model, read_checkpoint
from genlab.configs import check_ranges, config_dir
from genlab.errors import ConfigError, instantiate, report_config_errors
from genlab.loggers import quiet_lightning_tips
from genlab.metrics import SampleMetrics, dataset_key
from genlab.metrics.cas import cas_metrics, check_cas
from genlab.metrics.extractors import check_spec

#: The Lightning loop that runs a model's likelihood steps on each split.
LIKELIHOOD_LOOPS = {"test": "test", "val": "validate"}


def sample_metrics(cfg: DictConfig, model: Any, datamodule: Any, dataset_cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    key = dataset_key(dataset_cfg)
    extractor = check_spec(instantiate(cfg.metrics.features)).build(datamodule, key, cfg.metrics.cache_dir)
    options = {k: cfg.metrics[k] for k in ("num_samples", "batch_size", "seed", "kid_subsets", "kid_subset_size", "precision_recall_k")}
    metrics = SampleMetrics(extractor, key, cache_dir=cfg.metrics.cache_dir, **options)
    values, protocols = metrics.evaluate(model, datamodule, cfg.split, cfg.device)
    return {f"{cfg.split}/{k}": {"name": metrics.display_name(k), "value": v, "protocol": protocols[k]} for k, v in values.items()}


def likelihood_metrics(cfg: DictConfig, model: Any, datamodule: Any, loggers: list[Any]) -> dict[str, dict[str, Any]]:
    """Run the model's own test/validation step (VAE: test/nll, test/bpd) when it defines one."""
    loop = LIKELIHOOD_LOOPS.get(cfg.split)
    step = "test_step" if loop == "test" else "validation_step"
    if not cfg.likelihood or loop is None or getattr(type(model), step) is getattr(pl.LightningModule, step):
        return {}
    trainer = pl.Trainer(
        accelerator=cfg.device,
        devices=1,
        logger=loggers or False,
        default_root_dir=cfg.paths.output_dir,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    torch.manual_seed(cfg.metrics.seed)  # importance samples
    run = trainer.test if loop == "test" else trainer.validate
    results = run(model, datamodule=datamodule, verbose=False)[0]
    protocol = {
        "method": f"{type(model).__name__}.{step}",
        "split": cfg.split,
        "num_images": len(datamodule.dataset(cfg.split)),
        "importance_samples": getattr(model, "nll_samples", None),
        "units": "nats per image; bpd = bits per dimension",
    }
    return {k: {"name": k, "value": float(v), "protocol": protocol} for k, v in results.items()}


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per metric with its real-vs-real floor (`<key>_floor`, genlab.metrics.floor) beside it."""
    floors = {k.removesuffix("_floor"): r for k, r in results.items() if k.endswith("_floor")}
    rows = [("metric", "key", "value", "real-vs-real floor")] + [
        (r["name"], k, f"{r['value']:.4f}", f"{floors[k]['value']:.4f}" if k in floors else "")
        for k, r in results.items()
        if not k.endswith("_floor")
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for floor in {r["protocol"].get("floor"): None for r in floors.values()}:  # each distinct floor protocol once
        lines += [f"floor: {floor}"] if floor else []
    seen = []
    for r in results.values():
        p = r["protocol"]
        if "extractor" in p and "floor" not in p and p not in seen:
            seen.append(p)
            acc = f", {p['heldout_split']} accuracy {p['accuracy']:.4f}" if "accuracy" in p else ""
            lines.append(
                f"protocol: {p['extractor']} features ({p['extractor_key']}{acc}); {p['num_generated']} generated vs "
                f"{p['num_real']} real images of split '{p['reference_split']}'; resizing: {p['resizing']}"
            )
    return "\n".join(lines)


def evaluate(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """Evaluate `cfg.ckpt_path`; returns {key: {name, value, protocol}} and writes metrics.json."""
    quiet_lightning_tips()
    check_ranges(cfg)
    allowed = (*TRUSTED_TARGETS, *cfg.trusted_targets)
    ckpt = read_checkpoint(cfg.ckpt_path, allowed)
    model = load_model(cfg.ckpt_path, allowed, ckpt).to(cfg.device)
    overrides = OmegaConf.to_container(cfg.dataset, resolve=True) if cfg.dataset else None
    datamodule, dataset_cfg = load_datamodule(ckpt, overrides, allowed)
    if cfg.split not in datamodule.splits:
        raise ConfigError(f"split={cfg.split}: the dataset has splits {', '.join(datamodule.splits)}")
    if cfg.cas:
        check_cas(model, datamodule)
    loggers = [instantiate(node) for node in (cfg.logger or {}).values() if node is not None]
    results = sample_metrics(cfg, model, datamodule, dataset_cfg)
    results.update(likelihood_metrics(cfg, model, datamodule, loggers))
    if cfg.cas:
        results.update(cas_metrics(model, datamodule, cfg.cas_samples, cfg.metrics.seed))
    for logger in loggers:
        logger.log_metrics({k: r["value"] for k, r in results.items()}, step=0)
        logger.save()
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    history = lineage(cfg.ckpt_path, ckpt)
    record = {"checkpoint": history["path"], "lineage": history, "split": cfg.split, "metrics": results}
    (out / "metrics.json").write_text(json.dumps(record, indent=2))
    print(format_table(results))
    print(describe_lineage(history))
    return results


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
@report_config_errors
def main(cfg: DictConfig) -> None:
    evaluate(cfg)
    print(f"genlab: wrote {Path(cfg.paths.output_dir) / 'metrics.json'}")


if __name__ == "__main__":
    main()
