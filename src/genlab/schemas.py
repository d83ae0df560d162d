"""Model and dataset schemas generated from the constructors' signatures, so each default is written once.

A model or dataset yaml that asks for its schema (`defaults: [/schema/model/<its name>@_here_]`, or
`/schema/dataset/...`) gets one built from its `_target_`'s `__init__`: every named parameter becomes
a key with the constructor's default (MISSING where it has none), its type where OmegaConf can check
it (int, float, bool, str, an enum, `Enum | str` of a str enum, Optional of one; anything else is
`Any`), and its range from `Annotated[float, POSITIVE]`. The yaml then holds only `_target_`, the
composition and what differs from the constructor. A DataModule passes most arguments up through
`**kwargs`, so a dataset schema also takes the parameters of each base class an `__init__` with
`**kwargs` leads to (the first definition along the MRO wins: a subclass's default overrides).

A net is a typed node of its model's yaml the same way: `defaults: [/schema/net/dcgan.Generator@generator]`
types `model.generator` from `genlab.nets.dcgan.Generator.__init__`, so `model.generator.spectral_norm=true`
works although no yaml writes `spectral_norm`. A class- or function-valued default (`norm=nn.BatchNorm2d`)
has no config spelling: it becomes a (free-form) key only where a yaml writes one, as does `_partial_`.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any, Optional

from hydra.utils import get_class
from omegaconf import MISSING, OmegaConf

from genlab.errors import ConfigError
from genlab.ranges import Range

CHECKABLE = (int, float, bool, str)


def _parameters(cls: type, inherited: bool) -> list[tuple[type, inspect.Parameter]]:
    """(class whose `__init__` defines it, parameter) for each named constructor parameter of `cls`;
    with `inherited`, also those of the base classes its `**kwargs` reaches, first definition first."""
    found: dict[str, tuple[type, inspect.Parameter]] = {}
    for owner in cls.__mro__:
        if "__init__" not in vars(owner) or owner is object:
            continue
        params = list(inspect.signature(owner.__init__).parameters.values())[1:]
        for param in params:
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                found.setdefault(param.name, (owner, param))
        if not (inherited and any(param.kind is param.VAR_KEYWORD for param in params)):
            break
    return list(found.values())


def _annotation(cls: type, param: inspect.Parameter) -> Any:
    """The parameter's annotation as an object (signatures under `from __future__ import annotations` hold strings)."""
    if not isinstance(param.annotation, str):
        return Any if param.annotation is inspect.Parameter.empty else param.annotation
    module = vars(sys.modules[cls.__init__.__module__])
    try:
        return eval(param.annotation, module)  # noqa: S307 - the class's own source, as typing.get_type_hints does
    except NameError:
        if "Annotated" in param.annotation:  # a range must not be dropped silently
            raise ConfigError(f"{cls.__qualname__}.__init__: cannot read the annotation of {param.name} ({param.annotation})") from None
        return Any  # a name imported for type checkers only: the key stays free-form


def _config_type(annotation: Any) -> tuple[Any, Range | None]:
    """(type OmegaConf checks, range) of an annotation."""
    bounds = None
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extras = typing.get_args(annotation)
        bounds = next((e for e in extras if isinstance(e, Range)), None)
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    real = [a for a in args if a is not type(None)]
    enums = [a for a in real if isinstance(a, type) and issubclass(a, enum.Enum) and issubclass(a, str)]
    if len(enums) == 1 and set(real) == {enums[0], str}:  # `Binarize | str`: the str spells a member
        real = enums
    if len(real) != 1 or not (real[0] in CHECKABLE or (isinstance(real[0], type) and issubclass(real[0], enum.Enum))):
        return Any, bounds
    return (Optional[real[0]] if type(None) in args else real[0]), bounds  # noqa: UP045 - OmegaConf reads typing.Optional


def _is_config_value(default: Any) -> bool:
    """Whether a default can stand in a config (a class or a function, like `norm=nn.BatchNorm2d`, cannot)."""
    return default is None or default is MISSING or isinstance(default, (*CHECKABLE, enum.Enum, list, dict))


def _field(default: Any, bounds: Range | None = None) -> Any:
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d))
    return dataclasses.field(default=default, metadata={"range": bounds} if bounds else {})


def schema_from_signature(
    target: str, inherited: bool = False, written: dict[str, Any] | None = None, partial: bool = False, name: str | None = None
) -> type:
    """A dataclass named `<Class>Config` (or `name`) whose fields are `target`'s constructor parameters
    (with `inherited`, also those its `**kwargs` passes to the base classes' constructors). Parameters
    whose default is no config value are left out unless `written` (the keys a yaml writes, with its
    values) gives one, as free-form keys; with `partial` (a `_partial_` node), required parameters the
    yaml does not write are left to the caller."""
    cls, written = get_class(target), written or {}
    fields: list[tuple[str, Any, Any]] = [("_target_", str, dataclasses.field(default=target))]
    for owner, param in _parameters(cls, inherited):
        kind, bounds = _config_type(_annotation(owner, param))
        default = MISSING if param.default is param.empty else param.default
        if param.name in written and not _is_config_value(default):
            kind, default = Any, written[param.name]
        elif not _is_config_value(default) or (partial and default is MISSING and param.name not in written):
            continue
        fields.append((param.name, kind, _field(default, bounds)))
    fields += [(key, Any, _field(value)) for key, value in written.items() if key == "_partial_"]
    schema = dataclasses.make_dataclass(name or f"{cls.__name__}Config", fields)
    schema.__module__ = "genlab.configs"  # where it is registered (and found by pickle)
    return schema


def requested_schemas(group_dir: Path, inherited: bool = False) -> dict[str, type]:
    """{name: schema} for each `<group_dir>/<name>.yaml` whose defaults list asks for `/schema/<group>/<name>@_here_`."""
    schemas, group = {}, group_dir.name
    for path in sorted(group_dir.glob("*.yaml")):
        cfg = OmegaConf.load(path)
        if f"/schema/{group}/{path.stem}@_here_" in list(cfg.get("defaults", [])):
            if "_target_" not in cfg:
                raise ConfigError(f"{path}: a {group} yaml that asks for its schema names its class in _target_")
            schemas[path.stem] = schema_from_signature(cfg["_target_"], inherited)
    return schemas


def model_schemas(model_dir: Path) -> dict[str, type]:
    """{name: schema} of the model yamls that ask for one (the constructor's own parameters)."""
    return requested_schemas(model_dir)


def dataset_schemas(dataset_dir: Path) -> dict[str, type]:
    """{name: schema} of the dataset yamls that ask for one (the DataModule's `**kwargs` chain)."""
    return requested_schemas(dataset_dir, inherited=True)


def net_schemas(model_dir: Path) -> dict[str, type]:
    """{`<module>.<Class>`: schema} for each `/schema/net/<module>.<Class>@<node>` (a class of genlab.nets)
    that a yaml under `model_dir` asks for; the keys those yamls write beside it that the signature
    cannot default (`_partial_`, `norm`) become free-form keys of the schema, with the first yaml's value."""
    uses: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for path in sorted(model_dir.rglob("*.yaml")):
        cfg = OmegaConf.load(path)
        for entry in cfg.get("defaults", []):
            if isinstance(entry, str) and entry.startswith("/schema/net/"):
                name, _, package = entry.removeprefix("/schema/net/").partition("@")
                node = cfg if package in ("", "_here_") else cfg.get(package) or {}
                written = {k: v for k, v in OmegaConf.to_container(OmegaConf.create(node)).items() if k != "defaults"}
                uses.setdefault(name, []).append((path, written))
    schemas = {}
    for name, nodes in uses.items():
        target = f"genlab.nets.{name}"
        params = {param.name: param for _, param in _parameters(get_class(target), inherited=False)}
        union: dict[str, Any] = {}
        for path, written in nodes:
            if written.get("_target_", target) != target:
                raise ConfigError(f"{path}: _target_={written['_target_']} beside /schema/net/{name}, which names the class: drop _target_")
            unknown = set(written) - {*params, "_target_", "_partial_"}
            if unknown:
                raise ConfigError(f"{path}: {', '.join(sorted(unknown))} not an argument of {target} (accepted: {', '.join(params)})")
            union = {**written, **union}  # the first yaml's value wins
        module, _, cls = name.rpartition(".")
        partial = any(written.get("_partial_") for _, written in nodes)
        schemas[name] = schema_from_signature(target, written=union, partial=partial, name=f"{module.title()}{cls}Config")
        schemas[name].__module__ = __name__  # registered here by genlab.configs, beside the functions that make it
    return schemas
