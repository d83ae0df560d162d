"""The config tree: every combination composes and builds; bad input is rejected at start-up."""

from __future__ import annotations

import pytest
import torch
from hydra.errors import ConfigCompositionException
from hydra.utils import get_class
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from genlab.configs import config_dir
from genlab.contracts import TwoDomainData
from genlab.errors import instantiate
from genlab.losses import ADVERSARIAL_LOSSES
from genlab.models.base import GenerativeModule
from genlab.train import build_model, instantiate_group


def model_target(name: str) -> str:
    """The class conf/model/<name>.yaml builds: its `_target_`, or the one of the yaml or schema it extends."""
    cfg = OmegaConf.load(config_dir() / "model" / f"{name}.yaml")
    if "_target_" in cfg:
        return cfg._target_
    parent = next(d for d in cfg.defaults if isinstance(d, str) and d != "_self_")
    return model_target(parent.removeprefix("/schema/model/").removesuffix("@_here_"))


# Every single-domain model option in conf/model (the two-domain ones train on two-domain data:
# tests/models/test_cyclegan.py composes those).
MODELS = [p.stem for p in sorted((config_dir() / "model").glob("*.yaml")) if get_class(model_target(p.stem)).datamodule_type is not TwoDomainData]
LOGGERS = ["csv", "tensorboard", "wandb", "many"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dataset", ["digits", "mnist"])
@pytest.mark.parametrize("logger", LOGGERS)
def test_every_model_dataset_logger_combination_composes_and_builds(compose_cfg, mnist_dir, model, dataset, logger):
    cfg = compose_cfg(
        f"model={model}",
        f"dataset={dataset}",
        f"logger={logger}",
        f"paths.data_dir={mnist_dir.parent}",
        f"dataset.data_dir={mnist_dir}" if dataset == "mnist" else "dataset.batch_size=32",
    )
    datamodule = instantiate(cfg.dataset)
    assert isinstance(build_model(cfg), GenerativeModule)
    assert datamodule.image_size == cfg.dataset.image_size
    assert len(instantiate_group(cfg.logger)) == (3 if logger == "many" else 1)


@pytest.mark.parametrize("experiment", ["dcgan_mnist", "vae_mnist"])
def test_experiments_compose(compose_cfg, mnist_dir, experiment):
    cfg = compose_cfg(f"experiment={experiment}", f"dataset.data_dir={mnist_dir}")
    assert cfg.dataset._target_.endswith("MNISTDataModule")
    build_model(cfg)


@pytest.mark.parametrize("debug", ["fdr", "overfit", "limit"])
def test_debug_presets_compose(compose_cfg, debug):
    assert compose_cfg(f"debug={debug}").trainer


def test_optimized_metric_follows_the_model(compose_cfg):
    assert compose_cfg("model=vae").optimized_metric == "val/nll"


def test_checkpoint_config_is_plain_containers(compose_cfg):
    model = build_model(compose_cfg("model.loss=hinge"))
    assert model.genlab_config["model"]["loss"] == "hinge"
    assert type(model.genlab_config["model"]) is dict


def test_typo_in_model_key_is_rejected_naming_the_key(compose_cfg):
    with pytest.raises(ConfigCompositionException, match="lrr"):
        compose_cfg("model.lrr=1")


def test_wrong_type_is_rejected_naming_the_key(compose_cfg):
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg("trainer.max_epochs=abc")
    assert isinstance(err.value.__cause__, ValidationError)
    assert "trainer.max_epochs" in str(err.value.__cause__)


def test_unknown_loss_lists_the_accepted_values(compose_cfg):
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg("model.loss=wgan")
    assert ", ".join(ADVERSARIAL_LOSSES) in str(err.value.__cause__)


def test_unknown_model_option_lists_the_available_ones(compose_cfg):
    with pytest.raises(Exception, match=r"(?s)Could not find 'model/gann'.*gan.*vae"):
        compose_cfg("model=gann")


def test_net_keys_no_yaml_writes_are_overridable_and_a_net_swaps_by_target(compose_cfg):
    # spectral_norm and num_classes come from the nets' schemas; norm, which no yaml writes for G, is added with +.
    cfg = compose_cfg(
        "model.generator.spectral_norm=true", "model.discriminator.spectral_norm=true", "+model.generator.norm=null", "model.discriminator.norm=null"
    )
    model = build_model(cfg)
    assert cfg.model.generator.num_classes == 0 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    swapped = build_model(compose_cfg("model.generator._target_=genlab.nets.resnet.Generator", "dataset.image_size=16"))
    assert type(swapped.generator).__module__ == "genlab.nets.resnet"


@pytest.mark.parametrize(
    ("override", "message"),
    [("model.generator.widht=8", "Key 'widht' not in 'DcganGeneratorConfig'"), ("model.encoder.width=abc", "model.encoder.width")],
)
def test_a_misspelt_or_mistyped_net_key_is_rejected_naming_the_key(compose_cfg, override, message):
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg("model=vae" if "encoder" in override else "model=gan", override)
    assert message in str(err.value.__cause__)
