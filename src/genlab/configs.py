"""Structured configs (schemas) for the keys users touch most, registered in Hydra's ConfigStore.

Each yaml in conf/ that builds one of these classes starts with `defaults: [/schema/<group>/<name>@_here_]`,
so Hydra checks names and types at start-up: `model.lrr=1` and `trainer.max_epochs=abc` fail
before anything is built, naming the key. Nested net/optimizer configs stay free-form (`Any`) but
still reject unknown keys, because Hydra puts the whole config in struct mode.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from genlab.data.base import Binarize
from genlab.data.disk import Crop
from genlab.data.folder import FolderLabels
from genlab.errors import ConfigError
from genlab.losses import LossName


def config_dir() -> Path:
    """The Hydra config tree: inside the installed package, or conf/ at the top of a source checkout."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "conf"


# -- value ranges -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Range:
    """The values a numeric schema key accepts; `None` passes where the key is Optional."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def accepts(self, value: float) -> bool:
        return (
            math.isfinite(value)
            and (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
            and (self.lt is None or value < self.lt)
            and (self.le is None or value <= self.le)
        )

    def __str__(self) -> str:
        low = ("[", self.ge) if self.ge is not None else ("(", self.gt) if self.gt is not None else None
        high = (self.le, "]") if self.le is not None else (self.lt, ")") if self.lt is not None else None
        if low and high:
            return f"in {low[0]}{_number(low[1])}, {_number(high[0])}{high[1]}"
        if low:
            return f"{'>=' if low[0] == '[' else '>'} {_number(low[1])}"
        if high:
            return f"{'<=' if high[1] == ']' else '<'} {_number(high[0])}"
        return "finite"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def ranged(default: Any, **bounds: float) -> Any:
    """A schema field with a default and a Range (`gt`, `ge`, `lt`, `le`), checked by `check_ranges`."""
    return field(default=default, metadata={"range": Range(**bounds)})


POSITIVE = {"gt": 0}  # rates, scales
AT_LEAST_1 = {"ge": 1}  # sizes, counts
NON_NEGATIVE = {"ge": 0}  # weights, optional counts
SEED = {"ge": 0, "le": 2**32 - 1}  # what numpy (and so Lightning's seed_everything) accepts
CHANNELS = {"ge": 1, "le": 4}  # grayscale .. RGBA


def check_ranges(cfg: DictConfig, prefix: str = "") -> None:
    """Raise ConfigError naming the first key whose value is out of its schema's range.

    Hydra checks names and types while composing; ranges are not its business, so they live in the
    schema fields' metadata (`ranged`) and are checked here, before anything is built.
    """
    schema = OmegaConf.get_type(cfg)
    ranges = {f.name: f.metadata["range"] for f in dataclasses.fields(schema) if "range" in f.metadata} if dataclasses.is_dataclass(schema) else {}
    for key in map(str, cfg.keys()):
        if OmegaConf.is_missing(cfg, key):
            continue
        if isinstance(cfg._get_node(key), DictConfig):  # a nested config: no interpolation resolved yet
            check_ranges(cfg[key], f"{prefix}{key}.")
        elif key in ranges:
            value, node = cfg[key], cfg._get_node(key)
            if value is not None and not isinstance(value, bool) and not ranges[key].accepts(value):
                source = f" (from {node._value()})" if node._is_interpolation() else ""  # name the key the user set
                raise ConfigError(f"{prefix}{key}={value}{source}: must be {ranges[key]}")


# -- models -----------------------------------------------------------------------------------------
@dataclass
class GANConfig:
    _target_: str = "genlab.models.gan.GAN"
    generator: Any = MISSING
    discriminator: Any = MISSING
    optimizer_g: Any = MISSING
    optimizer_d: Any = MISSING
    lr_g: float = ranged(2e-4, **POSITIVE)
    lr_d: float = ranged(2e-4, **POSITIVE)
    loss: LossName = LossName.non_saturating  # type: ignore[attr-defined]
    n_critic: int = ranged(1, **AT_LEAST_1)
    ema_decay: float = ranged(0.999, ge=0, lt=1)
    monitor: Optional[str] = None
    grad_clip: float = ranged(0.0, **NON_NEGATIVE)
    compile: bool = False
    channels_last: bool = False
    r1_gamma: float = ranged(0.0, **NON_NEGATIVE)
    r2_gamma: float = ranged(0.0, **NON_NEGATIVE)
    reg_every: int = ranged(1, **AT_LEAST_1)
    # DiffAugment policies: "translation,cutout,color" or a list; "" is off (checked by genlab.augment).
    diffaugment: Any = ""
    # Latent encoder E (model/encoder=dcgan; None: off), trained on ||E(G(z)) - z||^2 at lr_e.
    encoder: Any = None
    lr_e: float = ranged(2e-4, **POSITIVE)


@dataclass
class VAEConfig:
    _target_: str = "genlab.models.vae.VAE"
    encoder: Any = MISSING
    decoder: Any = MISSING
    likelihood: Any = MISSING
    optimizer: Any = MISSING
    channels: int = ranged(1, **CHANNELS)
    latent_dim: int = ranged(16, **AT_LEAST_1)
    lr: float = ranged(1e-3, **POSITIVE)
    beta: float = ranged(1.0, **NON_NEGATIVE)
    nll_samples: int = ranged(100, **AT_LEAST_1)
    monitor: Optional[str] = "val/nll"


@dataclass
class RNNConfig:
    _target_: str = "genlab.models.rnn.RNN"
    net: Any = MISSING
    optimizer: Any = MISSING
    image_size: int = ranged(16, **AT_LEAST_1)
    channels: int = ranged(1, **CHANNELS)
    levels: int = ranged(256, ge=2, le=256)
    hidden: int = ranged(32, **AT_LEAST_1)
    layers: int = ranged(4, **AT_LEAST_1)
    lr: float = ranged(1e-3, **POSITIVE)
    monitor: Optional[str] = "val/nll"
    # > 0: class-conditional PixelRNN (a per-class bias in every layer); the dataset's classes.
    num_classes: int = ranged(0, **NON_NEGATIVE)


@dataclass
class CycleGANConfig:
    _target_: str = "genlab.models.cyclegan.CycleGAN"
    generator: Any = MISSING
    discriminator: Any = MISSING
    gan_loss: Any = MISSING
    optimizer_g: Any = MISSING
    optimizer_d: Any = MISSING
    lr: float = ranged(2e-4, **POSITIVE)
    lambda_A: float = ranged(10.0, **NON_NEGATIVE)
    lambda_B: float = ranged(10.0, **NON_NEGATIVE)
    lambda_identity: float = ranged(0.5, **NON_NEGATIVE)
    pool_size: int = ranged(50, **NON_NEGATIVE)
    n_epochs: int = ranged(100, **NON_NEGATIVE)
    n_epochs_decay: int = ranged(100, **NON_NEGATIVE)
    monitor: Optional[str] = None
    grad_clip: float = ranged(0.0, **NON_NEGATIVE)
    compile: bool = False
    channels_last: bool = False


# -- datasets ---------------------------------------------------------------------------------------
@dataclass
class ImageDatasetConfig:
    _target_: str = MISSING
    image_size: int = ranged(16, **AT_LEAST_1)
    channels: int = ranged(1, **CHANNELS)
    batch_size: int = ranged(64, **AT_LEAST_1)
    num_workers: int = ranged(0, **NON_NEGATIVE)
    binarize: Binarize = Binarize.none
    seed: int = ranged(0, **SEED)
    device_resident: bool = False


@dataclass
class MNISTConfig(ImageDatasetConfig):
    _target_: str = "genlab.data.MNISTDataModule"
    data_dir: str = MISSING
    train_split: str = "train"
    val_size: int = ranged(2000, **AT_LEAST_1)
    image_size: int = ranged(28, **AT_LEAST_1)


@dataclass
class PreparedDatasetConfig(ImageDatasetConfig):
    """Disk-backed data decoded once into a memory-mapped cache under cache_dir (genlab.data.prepared)."""

    data_dir: str = MISSING
    cache_dir: Optional[str] = None
    image_size: int = ranged(64, **AT_LEAST_1)
    channels: int = ranged(3, **CHANNELS)
    load_size: Optional[int] = ranged(None, **AT_LEAST_1)
    crop: Crop = Crop.center
    flip: bool = False
    skip_bad_files: bool = False


@dataclass
class ImageFolderConfig(PreparedDatasetConfig):
    _target_: str = "genlab.data.ImageFolderDataModule"
    labels: FolderLabels = FolderLabels.auto
    val_fraction: float = ranged(0.1, gt=0, lt=1)


@dataclass
class CIFAR10Config(PreparedDatasetConfig):
    _target_: str = "genlab.data.CIFAR10DataModule"
    image_size: int = ranged(32, **AT_LEAST_1)


@dataclass
class CIFAR100Config(CIFAR10Config):
    _target_: str = "genlab.data.CIFAR100DataModule"
    coarse_labels: bool = False


@dataclass
class CelebAConfig(PreparedDatasetConfig):
    _target_: str = "genlab.data.CelebADataModule"
    attribute: Optional[str] = None
    face_crop: Optional[int] = ranged(108, **AT_LEAST_1)


@dataclass
class StreamingConfig:
    """litdata shards streamed from a folder or an object store (genlab.data.stream)."""

    _target_: str = "genlab.data.stream.StreamingImageDataModule"
    data_dir: str = MISSING
    source_dir: Optional[str] = None
    cache_dir: Optional[str] = None
    labels: FolderLabels = FolderLabels.auto
    val_fraction: float = ranged(0.1, gt=0, lt=1)
    image_size: int = ranged(32, **AT_LEAST_1)
    channels: int = ranged(3, **CHANNELS)
    batch_size: int = ranged(64, **AT_LEAST_1)
    num_workers: int = ranged(0, **NON_NEGATIVE)
    seed: int = ranged(0, **SEED)
    binarize: Binarize = Binarize.none


@dataclass
class UnpairedDatasetConfig:
    """Two-domain data (CycleGAN); batches are (images_A, images_B)."""

    _target_: str = MISSING
    crop_size: int = ranged(256, **AT_LEAST_1)
    channels: int = ranged(3, **CHANNELS)
    flip: bool = True
    batch_size: int = ranged(1, **AT_LEAST_1)
    num_workers: int = ranged(0, **NON_NEGATIVE)
    seed: int = ranged(0, **SEED)


@dataclass
class UnpairedFolderConfig(UnpairedDatasetConfig):
    _target_: str = "genlab.data.UnpairedFolderDataModule"
    data_dir: str = MISSING
    load_size: int = ranged(286, **AT_LEAST_1)


@dataclass
class TexturesConfig(UnpairedDatasetConfig):
    _target_: str = "genlab.data.TexturesDataModule"
    crop_size: int = ranged(32, **AT_LEAST_1)
    scale: float = ranged(0.5, gt=0, le=1)
    train_crops: int = ranged(1024, **AT_LEAST_1)
    test_crops: int = ranged(64, **AT_LEAST_1)
    test_fraction: float = ranged(0.25, gt=0, lt=1)
    channels: int = ranged(1, **CHANNELS)
    batch_size: int = ranged(8, **AT_LEAST_1)


# -- trainer ----------------------------------------------------------------------------------------
@dataclass
class TrainerConfig:
    """The pytorch_lightning.Trainer arguments genlab configs use (add others with `+trainer.KEY=`)."""

    _target_: str = "pytorch_lightning.Trainer"
    default_root_dir: Optional[str] = None
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = ranged(1, **AT_LEAST_1)
    strategy: Any = "auto"
    precision: Any = "32-true"
    max_epochs: Optional[int] = ranged(None, ge=-1)  # -1: no limit
    min_epochs: Optional[int] = ranged(None, **NON_NEGATIVE)
    max_steps: int = ranged(-1, ge=-1)  # -1: no limit
    max_time: Optional[str] = None
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    overfit_batches: Any = 0.0
    fast_dev_run: Any = False
    check_val_every_n_epoch: Optional[int] = ranged(1, **AT_LEAST_1)
    val_check_interval: Any = None
    num_sanity_val_steps: Optional[int] = ranged(None, ge=-1)  # -1: all batches
    log_every_n_steps: Optional[int] = ranged(None, **AT_LEAST_1)
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
    seed: Optional[int] = ranged(42, **SEED)
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
    num_samples: int = ranged(64, **AT_LEAST_1)
    batch_size: int = ranged(256, **AT_LEAST_1)
    seed: int = ranged(0, **SEED)
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
    iterations: int = ranged(100, **AT_LEAST_1)
    steps: int = ranged(8, ge=2)
    labels: Optional[list[int]] = None
    label: Optional[int] = ranged(None, **NON_NEGATIVE)
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
    every_n_epochs: int = ranged(1, **AT_LEAST_1)
    batch_size: int = ranged(500, **AT_LEAST_1)
    seed: int = ranged(0, **SEED)
    kid_subsets: int = ranged(100, **AT_LEAST_1)
    kid_subset_size: int = ranged(1000, ge=2)
    precision_recall_k: int = ranged(3, **AT_LEAST_1)
    inception_weights: Optional[str] = None
    cache_dir: Optional[str] = None


@dataclass
class EvalRunConfig:
    task_name: str = "eval"
    ckpt_path: str = MISSING
    split: str = "test"
    likelihood: bool = True
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
    cs.store(group="schema/model", name="gan", node=GANConfig)
    cs.store(group="schema/model", name="vae", node=VAEConfig)
    cs.store(group="schema/model", name="rnn", node=RNNConfig)
    cs.store(group="schema/dataset", name="image", node=ImageDatasetConfig)
    cs.store(group="schema/dataset", name="mnist", node=MNISTConfig)
    cs.store(group="schema/dataset", name="image_folder", node=ImageFolderConfig)
    cs.store(group="schema/dataset", name="cifar10", node=CIFAR10Config)
    cs.store(group="schema/dataset", name="cifar100", node=CIFAR100Config)
    cs.store(group="schema/dataset", name="celeba", node=CelebAConfig)
    cs.store(group="schema/dataset", name="streaming", node=StreamingConfig)
    cs.store(group="schema/model", name="cyclegan", node=CycleGANConfig)
    cs.store(group="schema/dataset", name="unpaired_folder", node=UnpairedFolderConfig)
    cs.store(group="schema/dataset", name="textures", node=TexturesConfig)
    cs.store(group="schema/trainer", name="trainer", node=TrainerConfig)
    cs.store(group="schema", name="train", node=TrainRunConfig)
    cs.store(group="schema", name="sample", node=SampleRunConfig)
    cs.store(group="schema", name="export", node=ExportRunConfig)
    cs.store(group="schema", name="metrics", node=MetricsConfig)
    cs.store(group="schema", name="eval", node=EvalRunConfig)
    cs.store(group="schema", name="features", node=FeaturesRunConfig)


register_configs()
