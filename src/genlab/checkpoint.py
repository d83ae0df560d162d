"""Rebuild a model from a checkpoint alone, without unpickling arbitrary objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate

from genlab.errors import ConfigError
from genlab.models.base import GenerativeModule

#: Module prefixes a checkpoint's config may name in `_target_`.
TRUSTED_TARGETS: tuple[str, ...] = ("genlab.", "torch.")


def check_targets(config: Any, allowed: tuple[str, ...] = TRUSTED_TARGETS, where: str = "model") -> None:
    """Raise ConfigError if any `_target_` in a nested config lies outside the allowed modules."""
    if isinstance(config, dict):
        target = config.get("_target_")
        if target is not None and not str(target).startswith(allowed):
            raise ConfigError(f"{where}._target_={target!r} is not allowed in a checkpoint config (allowed: {', '.join(allowed)})")
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


def load_model(path: str | Path, allowed: tuple[str, ...] = TRUSTED_TARGETS) -> GenerativeModule:
    """The model saved at `path`, with its weights, in eval mode on the CPU."""
    ckpt = read_checkpoint(path)
    model_cfg = ckpt["genlab"]["model"]
    check_targets(model_cfg, allowed)
    model = instantiate(model_cfg)
    model.load_state_dict(ckpt["state_dict"])
    model.genlab_config = ckpt["genlab"]
    return model.eval()
