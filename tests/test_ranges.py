"""Every numeric schema key has a range, and a value outside it stops the run before anything is built.

The table of bad values is derived from the schemas (genlab.configs) and the config tree (conf/), so
a new key or a new config option is covered without editing this file.
"""

from __future__ import annotations

import dataclasses
import typing

import pytest
from hydra.errors import ConfigCompositionException

from genlab import configs
from genlab.configs import Range, check_ranges, config_dir
from genlab.errors import ConfigError
from genlab.train import train

NUMERIC = (int, float)


def schema_classes() -> list[type]:
    return [obj for obj in vars(configs).values() if dataclasses.is_dataclass(obj) and obj.__module__ == configs.__name__ and obj is not Range]


def numeric_fields(schema: type) -> list[dataclasses.Field]:
    hints = typing.get_type_hints(schema)
    out = []
    for f in dataclasses.fields(schema):
        types = [t for t in typing.get_args(hints[f.name]) if t is not type(None)] or [hints[f.name]]
        if any(t in NUMERIC for t in types) and bool not in types:
            out.append(f)
    return out


@pytest.mark.parametrize("schema", schema_classes(), ids=lambda s: s.__name__)
def test_every_numeric_schema_key_has_a_range(schema):
    assert [f.name for f in numeric_fields(schema) if "range" not in f.metadata] == []


def bad_values(r: Range) -> list[float]:
    """Values just outside each bound (the bound itself where it is exclusive)."""
    out = []
    if r.ge is not None:
        out.append(r.ge - 1)
    if r.gt is not None:
        out.append(r.gt)
    if r.le is not None:
        out.append(r.le + 1)
    if r.lt is not None:
        out.append(r.lt)
    return out


def ranged_keys(cfg, prefix: str = "") -> list[tuple[str, Range]]:
    """(dotted key, range) of every ranged schema key in a composed config."""
    from omegaconf import DictConfig, OmegaConf

    schema = OmegaConf.get_type(cfg)
    ranges = {f.name: f.metadata["range"] for f in dataclasses.fields(schema) if "range" in f.metadata} if dataclasses.is_dataclass(schema) else {}
    out = [(prefix + name, r) for name, r in ranges.items()]
    for key in map(str, cfg.keys()):
        if not OmegaConf.is_missing(cfg, key) and isinstance(cfg._get_node(key), DictConfig):
            out += ranged_keys(cfg[key], f"{prefix}{key}.")
    return out


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


# One composition per config option that brings its own schema; the run-level keys come with any.
COMPOSITIONS = [("train", f"model={m}") for m in options("model")] + [
    ("train", f"dataset={d}", "model=cyclegan" if d in ("textures", "unpaired_folder") else "model=gan") for d in options("dataset")
]
COMPOSITIONS += [("sample", "ckpt_path=x.ckpt"), ("eval", "ckpt_path=x.ckpt")]


@pytest.mark.parametrize("composition", COMPOSITIONS, ids=lambda c: " ".join(c))
def test_each_out_of_range_value_is_refused_naming_key_value_and_range(compose_cfg, composition):
    config_name, *overrides = composition
    keys = ranged_keys(compose_cfg(*overrides, config_name=config_name))
    assert keys, "no ranged keys found"
    checked = 0
    for key, r in keys:
        for value in bad_values(r):
            literal = int(value) if float(value).is_integer() else value
            try:
                cfg = compose_cfg(*overrides, f"{key}={literal}", config_name=config_name)
            except ConfigCompositionException:
                continue  # Hydra's type check refused it first (e.g. 0.5 for an int): also before anything runs
            with pytest.raises(ConfigError) as err:
                check_ranges(cfg)
            message = str(err.value)
            named = message.startswith(f"{key}=") or f"(from ${{{key}}})" in message  # set here, or read through an interpolation
            assert named and f"must be {r}" in message and "\n" not in message, message
            checked += 1
    assert checked >= len(keys)


# The values a new user tried (issue: "accepted or fail late"): each stops train() before any step.
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.n_critic=-1"], r"^model.n_critic=-1: must be >= 1$"),
        (["model.ema_decay=1.5"], r"^model.ema_decay=1.5: must be in \[0, 1\)$"),
        (["model=vae", "model.beta=-1"], r"^model.beta=-1.0: must be >= 0$"),
        (["dataset.batch_size=0"], r"^dataset.batch_size=0: must be >= 1$"),
        (["model.lr_g=-1"], r"^model.lr_g=-1.0: must be > 0$"),
        (["metrics.num_samples=0"], r"^metrics.num_samples=0: must be >= 2$"),
        (["model.generator.latent_dim=0"], r"^model.generator: latent_dim=0: must be >= 1$"),
        (["model=vae", "model.encoder.width=0"], r"^model.encoder: width=0: must be >= 1$"),
        (["trainer.devices=0"], r"^trainer: .*devices=0"),
    ],
)
def test_bad_values_stop_training_before_the_first_step(compose_cfg, tmp_path, overrides, message):
    cfg = compose_cfg(*overrides, "debug=limit", "logger=[]")
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()


def test_the_cli_prints_one_sentence_and_exits_2(cli, tmp_path):
    result = cli("train", "model.ema_decay=1.5", "hydra.run.dir=run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "genlab: error: model.ema_decay=1.5: must be in [0, 1)"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()
