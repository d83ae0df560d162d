"""Rebuild a model from a checkpoint alone, without unpickling arbitrary objects."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra._internal.utils import _locate
from hydra.utils import instantiate

from genlab.errors import ConfigError
from genlab.models.base import GenerativeModule

#: Packages whose classes and functions a checkpoint's config may name in `_target_` (what genlab's own
#: configs use). genlab-sample/genlab-eval add more with `trusted_targets=[pkg,...]`.
TRUSTED_TARGETS: tuple[str, ...] = ("genlab", "torch.nn", "torch.optim")


def _within(module: str, allowed: Sequence[str]) -> bool:
    return any(module == p or module.startswith(p.rstrip(".") + ".") for p in allowed)


def check_target(target: str, allowed: Sequence[str] = TRUSTED_TARGETS, where: str = "model") -> None:
    """Raise ConfigError unless `target` names a public class or function defined in an allowed package.

    The name is checked before anything is imported, so a checkpoint cannot make genlab import other
    code; then the object it resolves to is checked, because a dotted path can reach outside through
    module attributes (`genlab.loggers.subprocess.run`, `torch.nn.functional.torch.hub.load`).
    """
    refuse = f"{where}._target_={target!r} is not allowed in a checkpoint config (allowed: {', '.join(allowed)}; add more with trusted_targets=[...])"
    if not _within(target, allowed) or any(part.startswith("_") for part in target.split(".")):
        raise ConfigError(refuse)
    try:
        obj = _locate(target)
    except ImportError as err:
        raise ConfigError(f"{where}._target_={target!r}: {err}") from None
    module = getattr(obj, "__module__", None) or ""
    if not (inspect.isclass(obj) or inspect.isfunction(obj)) or not _within(module, allowed):
        raise ConfigError(f"{refuse}: it resolves to {module}.{getattr(obj, '__qualname__', obj)}")


def check_targets(config: Any, allowed: Sequence[str] = TRUSTED_TARGETS, where: str = "model") -> None:
    """Apply `check_target` to every `_target_` in a nested config."""
    if isinstance(config, dict):
        target = config.get("_target_")
        if target is not None:
            check_target(str(target), allowed, where)
        for key, value in config.items():
            check_targets(value, allowed, f"{where}.{key}")
    elif isinstance(config, list):
        for i, value in enumerate(config):
            check_targets(value, allowed, f"{where}[{i}]")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """torch.load with weights_only=True; a ConfigError naming the file if it is missing or not genlab's."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a loadable checkpoint"
        raise ConfigError(f"ckpt_path={path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or "genlab" not in ckpt or "state_dict" not in ckpt:
        raise ConfigError(f"ckpt_path={path}: not a genlab checkpoint (no 'genlab' config saved in it)")
    return ckpt


def load_model(path: str | Path, allowed: Sequence[str] = TRUSTED_TARGETS) -> GenerativeModule:
    """The model saved at `path`, with its weights, in eval mode on the CPU."""
    ckpt = read_checkpoint(path)
    model_cfg = ckpt["genlab"]["model"]
    check_targets(model_cfg, allowed)
    model = instantiate(model_cfg)
    model.load_state_dict(ckpt["state_dict"])
    model.genlab_config = ckpt["genlab"]
    return model.eval()
