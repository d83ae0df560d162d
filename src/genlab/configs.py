"""Structured configs (schemas) for the keys users touch most, registered in Hydra's ConfigStore.

Each yaml in conf/ that builds one of these classes starts with `defaults: [/schema/<group>/<name>@_here_]`,
so Hydra checks names and types at start-up: `model.lrr=1` and `trainer.max_epochs=abc` fail
before anything is built, naming the key. Nested net/optimizer configs stay free-form (`Any`) but
still reject unknown keys, because Hydra puts the whole config in struct mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from genlab.data.base import Binarize
from genlab.losses import LossName


def config_dir() -> Path:
    """The Hydra config tree: inside the installed package, or conf/ at the top of a source checkout."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "conf"


# -- models -----------------------------------------------------------------------------------------
@dataclass
class GANConfig:
    _target_: str = "genlab.models.gan.GAN"
    generator: Any = MISSING
    discriminator: Any = MISSING
    optimizer_g: Any = MISSING
    optimizer_d: Any = MISSING
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    loss: LossName = LossName.non_saturating  # type: ignore[attr-defined]
    n_critic: int = 1
    ema_decay: float = 0.999
    monitor: Optional[str] = None
    grad_clip: float = 0.0
    compile: bool = False
    channels_last: bool = False


@dataclass
class VAEConfig:
    _target_: str = "genlab.models.vae.VAE"
    encoder: Any = MISSING
    decoder: Any = MISSING
    likelihood: Any = MISSING
    optimizer: Any = MISSING
    channels: int = 1
    latent_dim: int = 16
    lr: float = 1e-3
    beta: float = 1.0
    nll_samples: int = 100
    monitor: Optional[str] = "val/nll"


@dataclass
class RNNConfig:
    _target_: str = "genlab.models.rnn.RNN"
    net: Any = MISSING
    optimizer: Any = MISSING
    image_size: int = 16
    channels: int = 1
    levels: int = 256
    hidden: int = 32
    layers: int = 4
    lr: float = 1e-3
    monitor: Optional[str] = "val/nll"


@dataclass
class CycleGANConfig:
    _target_: str = "genlab.models.cyclegan.CycleGAN"
    generator: Any = MISSING
    discriminator: Any = MISSING
    gan_loss: Any = MISSING
    optimizer_g: Any = MISSING
    optimizer_d: Any = MISSING
    lr: float = 2e-4
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    n_epochs: int = 100
    n_epochs_decay: int = 100
    monitor: Optional[str] = None
    grad_clip: float = 0.0
    compile: bool = False
    channels_last: bool = False


# -- datasets ---------------------------------------------------------------------------------------
@dataclass
class ImageDatasetConfig:
    _target_: str = MISSING
    image_size: int = 16
    channels: int = 1
    batch_size: int = 64
    num_workers: int = 0
    binarize: Binarize = Binarize.none
    seed: int = 0
    device_resident: bool = False


@dataclass
class MNISTConfig(ImageDatasetConfig):
    _target_: str = "genlab.data.MNISTDataModule"
    data_dir: str = MISSING
    train_split: str = "train"
    val_size: int = 2000
    image_size: int = 28


@dataclass
class UnpairedDatasetConfig:
    """Two-domain data (CycleGAN); batches are (images_A, images_B)."""

    _target_: str = MISSING
    crop_size: int = 256
    channels: int = 3
    flip: bool = True
    batch_size: int = 1
    num_workers: int = 0
    seed: int = 0


@dataclass
class UnpairedFolderConfig(UnpairedDatasetConfig):
    _target_: str = "genlab.data.UnpairedFolderDataModule"
    data_dir: str = MISSING
    load_size: int = 286


@dataclass
class TexturesConfig(UnpairedDatasetConfig):
    _target_: str = "genlab.data.TexturesDataModule"
    crop_size: int = 32
    scale: float = 0.5
    train_crops: int = 1024
    test_crops: int = 64
    test_fraction: float = 0.25
    channels: int = 1
    batch_size: int = 8


# -- trainer ----------------------------------------------------------------------------------------
@dataclass
class TrainerConfig:
    """The pytorch_lightning.Trainer arguments genlab configs use (add others with `+trainer.KEY=`)."""

    _target_: str = "pytorch_lightning.Trainer"
    default_root_dir: Optional[str] = None
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: Any = "auto"
    precision: Any = "32-true"
    max_epochs: Optional[int] = None
    min_epochs: Optional[int] = None
    max_steps: int = -1
    max_time: Optional[str] = None
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    overfit_batches: Any = 0.0
    fast_dev_run: Any = False
    check_val_every_n_epoch: Optional[int] = 1
    val_check_interval: Any = None
    num_sanity_val_steps: Optional[int] = None
    log_every_n_steps: Optional[int] = None
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
    seed: Optional[int] = 42
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
    num_samples: int = 64
    batch_size: int = 256
    seed: int = 0
    out: Optional[str] = None
    device: str = "cpu"
    direction: Optional[str] = None
    input: Optional[str] = None
    # Packages a checkpoint's config may name in `_target_` besides genlab, torch.nn, torch.optim.
    trusted_targets: list[str] = field(default_factory=list)
    paths: Any = MISSING


@dataclass
class MetricsConfig:
    """Sample metrics (genlab.metrics): the feature extractor (`metrics/features=...`) and the protocol."""

    features: Any = MISSING
    num_samples: int = 10000
    every_n_epochs: int = 1
    batch_size: int = 500
    seed: int = 0
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    precision_recall_k: int = 3
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
    cs.store(group="schema/model", name="cyclegan", node=CycleGANConfig)
    cs.store(group="schema/dataset", name="unpaired_folder", node=UnpairedFolderConfig)
    cs.store(group="schema/dataset", name="textures", node=TexturesConfig)
    cs.store(group="schema/trainer", name="trainer", node=TrainerConfig)
    cs.store(group="schema", name="train", node=TrainRunConfig)
    cs.store(group="schema", name="sample", node=SampleRunConfig)
    cs.store(group="schema", name="metrics", node=MetricsConfig)
    cs.store(group="schema", name="eval", node=EvalRunConfig)
    cs.store(group="schema", name="features", node=FeaturesRunConfig)


register_configs()
