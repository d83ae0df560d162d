"""Model schemas come from the constructors' signatures, so each model default is written once."""

from __future__ import annotations

import inspect
from typing import Annotated

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from genlab.configs import config_dir
from genlab.errors import ConfigError
from genlab.ranges import AT_LEAST_1, POSITIVE, Range, check_ranges
from genlab.schemas import model_schemas, schema_from_signature


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
