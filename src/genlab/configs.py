"""Structured configs (schemas) for the keys users touch most, registered in Hydra's ConfigStore.

Each yaml in conf/ that builds one of these classes starts with `defaults: [/schema/<group>/<name>@_here_]`,
so Hydra checks names and types at start-up: `model.lrr=1` and `trainer.max_epochs=abc` fail
before anything is built, naming the key. Nested optimizer configs stay free-form (`Any`) but
still reject unknown keys, because Hydra puts the whole config in struct mode. Model, net and dataset
schemas are not written here: they are generated from the constructors' signatures (genlab.schemas),
so a model's, net's or DataModule's defaults and ranges are written once, in its `__init__`; ranges: genlab.ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import MISSING

from genlab import schemas as generated_schemas
from genlab.ranges import AT_LEAST_1, NON_NEGATIVE, SEED, Range, check_ranges, ranged
from genlab.schemas import dataset_schemas, model_schemas, net_schemas

__all__ = ["Range", "check_ranges", "compose_config", "config_dir", "ranged", "register_configs"]


def config_dir() -> Path:
    """The Hydra config tree: inside the installed package, or conf/ at the top of a source checkout."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "conf"


def compose_config(name: str = "train", overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """genlab's config `name` composed with `overrides` outside a Hydra app (scripts, benchmarks);
    Hydra's global state is left as found (cleared before and after)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides))
    GlobalHydra.instance().clear()
    return cfg


# -- trainer ----------------------------------------------------------------------------------------
@dataclass
class TrainerConfig:
    """The pytorch_lightning.Trainer arguments genlab configs use (add others with `+trainer.KEY=`)."""

    _target_: str = "pytorch_lightning.Trainer"
    default_root_dir: Optional[str] = None
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = ranged(1, AT_LEAST_1)
    strategy: Any = "auto"
    precision: Any = "32-true"
    max_epochs: Optional[int] = ranged(None, ge=-1)  # -1: no limit
    min_epochs: Optional[int] = ranged(None, NON_NEGATIVE)
    max_steps: int = ranged(-1, ge=-1)  # -1: no limit
    max_time: Optional[str] = None
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    overfit_batches: Any = 0.0
    fast_dev_run: Any = False
    check_val_every_n_epoch: Optional[int] = ranged(1, AT_LEAST_1)
    val_check_interval: Any = None
    num_sanity_val_steps: Optional[int] = ranged(None, ge=-1)  # -1: all batches
    log_every_n_steps: Optional[int] = ranged(None, AT_LEAST_1)
    enable_progress_bar: Optional[bool] = None
    enable_model_summary: Optional[bool] = None
    deterministic: Any = None
    benchmark: Optional[bool] = None
    profiler: Any = None
    sync_batchnorm: bool = False
    use_distributed_sampler: bool = True
    detect_anomaly: bool = False


# -- run-level keys ---------------------------------------------------------------------------------
@dataclass
class TrainRunConfig:
    task_name: str = "train"
    seed: Optional[int] = ranged(42, SEED)
    ckpt_path: Optional[str] = None
    optimized_metric: Optional[str] = None
    test: bool = False
    tags: Any = None
    model: Any = MISSING
    dataset: Any = MISSING
    trainer: Any = MISSING
    logger: Any = None
    callbacks: Any = None
    paths: Any = MISSING
    metrics: Any = None


@dataclass
class SampleRunConfig:
    task_name: str = "sample"
    ckpt_path: str = MISSING
    num_samples: int = ranged(64, AT_LEAST_1)
    batch_size: int = ranged(256, AT_LEAST_1)
    seed: int = ranged(0, SEED)
    out: Optional[str] = None
    device: str = "cpu"
    direction: Optional[str] = None
    input: Optional[str] = None
    # Packages a checkpoint's config may name in `_target_` besides genlab, torch.nn, torch.optim.
    trusted_targets: list[str] = field(default_factory=list)
    paths: Any = MISSING
    # After training (genlab.tasks): task=sample|complete|interpolate|reconstruct, conditional labels, output format.
    task: str = "sample"
    mask: str = "bottom_half"
    mask_fraction: float = ranged(0.5, gt=0, lt=1)
    iterations: int = ranged(100, NON_NEGATIVE)
    # GAN completion: start the first latent search from the encoder's code (model/encoder=dcgan).
    encoder_start: bool = False
    steps: int = ranged(8, ge=2)
    labels: Optional[list[int]] = None
    label: Optional[int] = ranged(None, NON_NEGATIVE)
    # A conditional PixelRNN's classifier-free guidance scale (null: the one it was trained with).
    guidance: Optional[float] = ranged(None, NON_NEGATIVE)
    format: str = "npz"


@dataclass
class ExportRunConfig:
    task_name: str = "export"
    ckpt_path: str = MISSING
    format: str = "onnx"
    out: str = MISSING
    direction: Optional[str] = None
    trusted_targets: list[str] = field(default_factory=list)
    paths: Any = MISSING


@dataclass
class MetricsConfig:
    """Sample metrics (genlab.metrics): the feature extractor (`metrics/features=...`) and the protocol."""

    features: Any = MISSING
    num_samples: int = ranged(10000, ge=2)  # FID needs a covariance
    every_n_epochs: int = ranged(1, AT_LEAST_1)
    batch_size: int = ranged(500, AT_LEAST_1)
    seed: int = ranged(0, SEED)
    kid_subsets: int = ranged(100, AT_LEAST_1)
    kid_subset_size: int = ranged(1000, ge=2)
    precision_recall_k: int = ranged(3, AT_LEAST_1)
    inception_weights: Optional[str] = None
    cache_dir: Optional[str] = None


@dataclass
class EvalRunConfig:
    task_name: str = "eval"
    ckpt_path: str = MISSING
    split: str = "test"
    likelihood: bool = True
    # Classification Accuracy Score of a conditional model (genlab.metrics.cas) on cas_samples images.
    cas: bool = False
    cas_samples: Optional[int] = ranged(None, ge=10)
    device: str = "cpu"
    dataset: Any = None
    metrics: Any = MISSING
    logger: Any = None
    trusted_targets: list[str] = field(default_factory=list)
    paths: Any = MISSING


@dataclass
class FeaturesRunConfig:
    task_name: str = "features"
    dataset: Any = MISSING
    metrics: Any = MISSING
    paths: Any = MISSING


def register_configs() -> None:
    cs = ConfigStore.instance()
    generated = {
        "model": model_schemas(config_dir() / "model"),
        "net": net_schemas(config_dir() / "model"),
        "dataset": dataset_schemas(config_dir() / "dataset"),
    }
    for group, schemas in generated.items():
        # Where pickle (a multirun's config) and tests find them: genlab.configs.GANConfig, MNISTDataModuleConfig;
        # genlab.schemas.DcganGeneratorConfig (a net checks its own sizes, require_at_least: no ranges here).
        home = vars(generated_schemas) if group == "net" else globals()
        for name, schema in schemas.items():
            home[schema.__name__] = schema
            cs.store(group=f"schema/{group}", name=name, node=schema)
    cs.store(group="schema/trainer", name="trainer", node=TrainerConfig)
    cs.store(group="schema", name="train", node=TrainRunConfig)
    cs.store(group="schema", name="sample", node=SampleRunConfig)
    cs.store(group="schema", name="export", node=ExportRunConfig)
    cs.store(group="schema", name="metrics", node=MetricsConfig)
    cs.store(group="schema", name="eval", node=EvalRunConfig)
    cs.store(group="schema", name="features", node=FeaturesRunConfig)


register_configs()
