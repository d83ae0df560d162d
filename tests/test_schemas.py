"""Model and dataset schemas come from the constructors' signatures, so each default is written once."""

from __future__ import annotations

import inspect
from typing import Annotated

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from genlab.configs import config_dir
from genlab.data.base import Binarize
from genlab.errors import ConfigError
from genlab.ranges import AT_LEAST_1, POSITIVE, SEED, Range, check_ranges
from genlab.schemas import dataset_schemas, model_schemas, schema_from_signature


class Toy:
    def __init__(
        self,
        net: object,
        size: Annotated[int, AT_LEAST_1],
        lr: Annotated[float, POSITIVE] = 0.1,
        decay: Annotated[float, Range(ge=0, lt=1)] = 0.5,
        name: str | None = None,
        policy: str | list[str] = "",
        **extra: object,
    ) -> None:
        pass


def test_a_schema_has_the_constructors_keys_defaults_types_and_ranges():
    cfg = OmegaConf.structured(schema_from_signature("tests.test_schemas.Toy"))
    assert list(cfg) == ["_target_", "net", "size", "lr", "decay", "name", "policy"]
    assert cfg._target_ == "tests.test_schemas.Toy" and OmegaConf.is_missing(cfg, "net") and OmegaConf.is_missing(cfg, "size")
    assert (cfg.lr, cfg.decay, cfg.name, cfg.policy) == (0.1, 0.5, None, "")
    cfg.policy = ["a", "b"]  # str | list[str]: free-form
    with pytest.raises(Exception, match="size"):
        cfg.size = "big"
    cfg.size, cfg.decay = 3, 1.0
    with pytest.raises(ConfigError, match=r"^decay=1.0: must be in \[0, 1\)$"):
        check_ranges(cfg)


class Unreadable:
    def __init__(self, lr: Annotated[float, NOT_IMPORTED] = 0.1) -> None:  # noqa: F821 - the point of the test
        pass


def test_a_range_that_cannot_be_read_is_refused_rather_than_dropped():
    with pytest.raises(ConfigError, match="Unreadable.__init__: cannot read the annotation of lr"):
        schema_from_signature("tests.test_schemas.Unreadable")


def model_target(name: str) -> str:
    cfg = OmegaConf.load(config_dir() / "model" / f"{name}.yaml")
    if "_target_" in cfg:
        return cfg._target_
    parent = next(d for d in cfg.defaults if isinstance(d, str) and d != "_self_")
    return model_target(parent.removeprefix("/schema/model/").removesuffix("@_here_"))


@pytest.mark.parametrize("name", sorted(p.stem for p in (config_dir() / "model").glob("*.yaml")))
def test_model_yamls_do_not_repeat_a_constructor_default(name):
    defaults = {k: p.default for k, p in inspect.signature(get_class(model_target(name)).__init__).parameters.items()}
    cfg = OmegaConf.load(config_dir() / "model" / f"{name}.yaml")
    repeated = [k for k in cfg if k in defaults and not OmegaConf.is_interpolation(cfg, k) and cfg[k] == defaults[k]]
    assert repeated == [], f"conf/model/{name}.yaml repeats the constructor's default of {repeated}"


def test_every_model_yaml_that_asks_for_a_schema_gets_one():
    schemas = model_schemas(config_dir() / "model")
    assert {"gan", "vae", "rnn", "cyclegan"} <= set(schemas)
    assert all(schema.__name__ == get_class(model_target(name)).__name__ + "Config" for name, schema in schemas.items())


class ToyBase:
    def __init__(self, size: Annotated[int, AT_LEAST_1], seed: Annotated[int, SEED] = 0, binarize: Binarize | str = Binarize.none) -> None:
        pass


class ToyMiddle(ToyBase):
    def __init__(self, data_dir: str, size: Annotated[int, AT_LEAST_1] = 28, **kwargs: object) -> None:
        super().__init__(size=size, **kwargs)


class ToyData(ToyMiddle):  # no __init__ of its own: ToyMiddle's is the constructor
    pass


def test_a_dataset_schema_follows_the_kwargs_chain_and_the_first_default_wins():
    cfg = OmegaConf.structured(schema_from_signature("tests.test_schemas.ToyData", inherited=True))
    assert list(cfg) == ["_target_", "data_dir", "size", "seed", "binarize"]
    assert OmegaConf.is_missing(cfg, "data_dir") and (cfg.size, cfg.seed, cfg.binarize) == (28, 0, Binarize.none)
    cfg.binarize = "dynamic"  # `Binarize | str`: checked as the enum
    assert cfg.binarize is Binarize.dynamic
    with pytest.raises(Exception, match="binarize"):
        cfg.binarize = "sometimes"
    cfg.data_dir, cfg.seed = "x", -1
    with pytest.raises(ConfigError, match=r"^seed=-1: must be in \[0, 4294967295\]$"):
        check_ranges(cfg)
    assert list(OmegaConf.structured(schema_from_signature("tests.test_schemas.ToyData"))) == ["_target_", "data_dir", "size"]


def test_every_dataset_yaml_gets_its_datamodules_schema():
    schemas = dataset_schemas(config_dir() / "dataset")
    yamls = {p.stem for p in (config_dir() / "dataset").glob("*.yaml")} - {"fashion_mnist"}  # fashion_mnist: mnist's
    assert set(schemas) == yamls
    for name, schema in schemas.items():
        cfg = OmegaConf.structured(schema)
        cls = get_class(cfg._target_)
        assert schema.__name__ == cls.__name__ + "Config"
        assert {"batch_size", "seed", "channels"} <= set(cfg), name
    mnist = OmegaConf.structured(schemas["mnist"])
    assert (mnist.val_size, mnist.image_size, mnist.batch_size, mnist.train_fraction) == (2000, 28, 64, 1.0)  # MNIST's, then the base's
    with pytest.raises(ConfigError, match=r"^train_fraction=0.0: must be in \(0, 1\]$"):
        mnist.data_dir, mnist.train_fraction = "x", 0.0
        check_ranges(mnist)


@pytest.mark.parametrize("name", sorted(p.stem for p in (config_dir() / "dataset").glob("*.yaml")))
def test_dataset_yamls_do_not_repeat_a_datamodule_default(name):
    schemas = dataset_schemas(config_dir() / "dataset")
    cfg = OmegaConf.load(config_dir() / "dataset" / f"{name}.yaml")
    parent = name if name in schemas else next(d for d in cfg.defaults if isinstance(d, str) and d != "_self_")
    defaults = OmegaConf.structured(schemas[parent])
    repeated = [k for k in cfg if k not in ("_target_", "defaults") and not OmegaConf.is_interpolation(cfg, k) and cfg[k] == defaults[k]]
    assert repeated == [], f"conf/dataset/{name}.yaml repeats the DataModule's default of {repeated}"
