"""Model, net and dataset schemas come from the constructors' signatures, so each default is written once."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import pytest
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from genlab.configs import config_dir
from genlab.data.base import Binarize
from genlab.errors import ConfigError
from genlab.ranges import AT_LEAST_1, POSITIVE, SEED, Range, check_ranges
from genlab.schemas import dataset_schemas, model_schemas, net_schemas, schema_from_signature
from tests.test_configs import model_target


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


def node_targets(path: Path) -> dict[str, str]:
    """{node: class} of the nested objects (nets, optimizers...) a model yaml builds, from their
    `_target_`, the `/schema/net/<class>@<node>` it asks for, or the yaml it extends; `_here_`: the file itself."""
    cfg, targets = OmegaConf.load(path), {}
    for entry in cfg.get("defaults", []):
        if isinstance(entry, str) and entry.startswith("/schema/net/"):
            name, _, node = entry.removeprefix("/schema/net/").partition("@")
            targets[node] = f"genlab.nets.{name}"
        elif isinstance(entry, str) and entry != "_self_" and not entry.startswith("/"):
            targets = {**node_targets(path.parent / f"{entry}.yaml"), **targets}
    targets.update({k: v._target_ for k, v in cfg.items_ex(resolve=False) if isinstance(v, DictConfig) and "_target_" in v})
    if path.parent != config_dir() / "model" and "_target_" in cfg:  # an option of a group under model/
        targets["_here_"] = cfg._target_
    return targets


def repeated_defaults(path: Path) -> list[str]:
    """The keys of the nested objects in a model yaml whose value is their class's constructor default."""
    cfg, repeated = OmegaConf.load(path), []
    for node, target in node_targets(path).items():
        written = cfg if node == "_here_" else cfg.get(node)
        if isinstance(written, DictConfig):
            defaults = {k: p.default for k, p in inspect.signature(get_class(target).__init__).parameters.items()}
            repeated += [f"{node}.{k}" for k in written if k in defaults and not OmegaConf.is_interpolation(written, k) and written[k] == defaults[k]]
    return repeated


@pytest.mark.parametrize("name", sorted(p.stem for p in (config_dir() / "model").glob("*.yaml")))
def test_model_yamls_do_not_repeat_a_constructor_default(name):
    defaults = {k: p.default for k, p in inspect.signature(get_class(model_target(name)).__init__).parameters.items()}
    cfg = OmegaConf.load(config_dir() / "model" / f"{name}.yaml")
    repeated = [k for k in cfg if k in defaults and not OmegaConf.is_interpolation(cfg, k) and cfg[k] == defaults[k]]
    assert repeated == [], f"conf/model/{name}.yaml repeats the constructor's default of {repeated}"
    repeated = repeated_defaults(config_dir() / "model" / f"{name}.yaml")
    assert repeated == [], f"conf/model/{name}.yaml repeats the nets' (or optimizers') constructor defaults of {repeated}"


@pytest.mark.parametrize("path", sorted((config_dir() / "model").glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_net_option_yamls_do_not_repeat_a_constructor_default(path):
    assert repeated_defaults(path) == [], f"{path} repeats its class's constructor defaults"


def test_the_no_repeat_check_sees_a_repeated_net_default(tmp_path):
    (tmp_path / "toy.yaml").write_text("defaults:\n  - /schema/net/dcgan.Generator@generator\ngenerator:\n  width: 64\n  spectral_norm: true\n")
    assert repeated_defaults(tmp_path / "toy.yaml") == ["generator.width"]


def test_a_net_schema_has_the_constructors_config_keys_and_what_the_yamls_write_beside(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "defaults:\n  - /schema/net/dcgan.Generator@generator\n  - /schema/net/cyclegan.ResnetGenerator@other\n"
        "other:\n  _partial_: true\n  norm:\n    _target_: torch.nn.BatchNorm2d\n    _partial_: true\n"
    )
    schemas = net_schemas(tmp_path)
    generator = OmegaConf.structured(schemas["dcgan.Generator"])
    assert schemas["dcgan.Generator"].__name__ == "DcganGeneratorConfig"
    # norm=nn.BatchNorm2d has no config spelling and no yaml writes it: no key (`+model.generator.norm=null` adds one).
    assert list(generator) == ["_target_", "latent_dim", "image_size", "channels", "width", "num_classes", "spectral_norm"]
    assert (generator._target_, generator.latent_dim, generator.spectral_norm) == ("genlab.nets.dcgan.Generator", 100, False)
    with pytest.raises(Exception, match="width"):
        generator.width = "wide"
    other = OmegaConf.structured(schemas["cyclegan.ResnetGenerator"])
    assert other.norm == {"_target_": "torch.nn.BatchNorm2d", "_partial_": True} and other._partial_ is True
    other.norm = None  # written by a yaml: a free-form key


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            "generator:\n  widht: 8\n",
            r"a.yaml: widht not an argument of genlab.nets.dcgan.Generator \(accepted: latent_dim, image_size, .*spectral_norm\)",
        ),
        (
            "generator:\n  _target_: genlab.nets.resnet.Generator\n",
            r"a.yaml: _target_=genlab.nets.resnet.Generator beside /schema/net/dcgan.Generator",
        ),
    ],
    ids=["unknown-key", "other-target"],
)
def test_a_net_yaml_that_does_not_match_its_schema_is_refused_naming_the_file_and_key(tmp_path, node, message):
    (tmp_path / "a.yaml").write_text("defaults:\n  - /schema/net/dcgan.Generator@generator\n" + node)
    with pytest.raises(ConfigError, match=message):
        net_schemas(tmp_path)


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
