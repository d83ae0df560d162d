"""Everything that reads a checkpoint goes through here: no path unpickles objects or instantiates a
`_target_` outside the allow-list.

- `read_checkpoint`: `torch.load(weights_only=True)`; a missing, truncated or pickle-payload file is a
  one-sentence ConfigError naming it.
- `load_model` / `load_datamodule`: rebuild the model / dataset from the config saved in it
  (genlab-sample, genlab-eval); every `_target_` is checked first (`check_targets`).
- `check_resume` / `check_weights`: genlab-train ckpt_path=... refuses a checkpoint of another family,
  or whose weights do not fit the model being trained, before Lightning loads it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from hydra._internal.utils import _locate

from genlab.errors import ConfigError, instantiate
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


def read_checkpoint(path: str | Path, allowed: Sequence[str] = TRUSTED_TARGETS) -> dict[str, Any]:
    """torch.load with weights_only=True, then every `_target_` of its saved configs checked.

    A ConfigError naming the file when it is missing, unreadable (truncated, a pickle that names
    code), not genlab's, or names a target outside `allowed`.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a loadable checkpoint"
        reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]  # one line, whatever torch says
        raise ConfigError(f"ckpt_path={path}: not a readable checkpoint ({reason})") from None
    saved = ckpt.get("genlab") if isinstance(ckpt, dict) else None
    if not isinstance(saved, dict) or not isinstance(saved.get("model"), dict) or "state_dict" not in ckpt:
        raise ConfigError(f"ckpt_path={path}: not a genlab checkpoint (no 'genlab' config saved in it)")
    try:
        for part in ("model", "dataset"):
            check_targets(saved.get(part) or {}, allowed, where=part)
    except ConfigError as err:
        raise ConfigError(f"ckpt_path={path}: {err}") from None
    return ckpt


def load_model(path: str | Path, allowed: Sequence[str] = TRUSTED_TARGETS, ckpt: dict[str, Any] | None = None) -> GenerativeModule:
    """The model saved at `path` (or in `ckpt`, already read from it), with its weights, in eval mode on the CPU."""
    ckpt = ckpt if ckpt is not None else read_checkpoint(path, allowed)
    model = instantiate(ckpt["genlab"]["model"])
    check_weights(path, ckpt["state_dict"], model)
    model.load_state_dict(ckpt["state_dict"])
    model.genlab_config = ckpt["genlab"]
    return model.eval()


def load_datamodule(
    ckpt: dict[str, Any], overrides: Mapping[str, Any] | None = None, allowed: Sequence[str] = TRUSTED_TARGETS
) -> tuple[Any, dict[str, Any]]:
    """The dataset a checkpoint was trained on (set up), with `overrides` (e.g. data_dir) applied, and its config.

    The one place where genlab-sample and genlab-eval build data from a checkpoint; models receive
    tensors, never configs. `ckpt` comes from `read_checkpoint`, which checked its targets; the
    overrides come from the command line and are checked here.
    """
    dataset_cfg = {**(ckpt["genlab"].get("dataset") or {}), **(overrides or {})}
    if not dataset_cfg:
        raise ConfigError("this checkpoint carries no dataset config: pass the images with input=DIR_OR_NPZ")
    check_targets(dataset_cfg, allowed, where="dataset")
    datamodule = instantiate(dataset_cfg)
    datamodule.setup()
    return datamodule, dataset_cfg


def check_resume(path: str | Path, model_cfg: Mapping[str, Any], allowed: Sequence[str] = TRUSTED_TARGETS) -> dict[str, Any]:
    """The checkpoint a run resumes from, refused in one sentence if it is not a readable genlab
    checkpoint of the model family being trained (before Lightning unpickles it)."""
    ckpt = read_checkpoint(path, allowed)
    saved, wanted = ckpt["genlab"]["model"].get("_target_"), model_cfg.get("_target_")
    if saved != wanted:
        raise ConfigError(
            f"ckpt_path={path}: it holds a {saved} model, but this run builds {wanted}; resume with the model overrides of the run that wrote it"
        )
    return ckpt


def check_weights(path: str | Path, state_dict: Mapping[str, Any], model: torch.nn.Module) -> None:
    """One sentence, not a 40-line load_state_dict error, when the saved weights do not fit `model`."""
    own = model.state_dict()
    missing, unexpected = sorted(own.keys() - state_dict.keys()), sorted(state_dict.keys() - own.keys())
    shapes = sorted(k for k in own.keys() & state_dict.keys() if tuple(own[k].shape) != tuple(state_dict[k].shape))
    if missing or unexpected or shapes:
        problems = [f"{len(missing)} missing (e.g. {missing[0]})"] if missing else []
        problems += [f"{len(unexpected)} unexpected (e.g. {unexpected[0]})"] if unexpected else []
        problems += [f"{shapes[0]} is {tuple(state_dict[shapes[0]].shape)} there but {tuple(own[shapes[0]].shape)} here"] if shapes else []
        raise ConfigError(
            f"ckpt_path={path}: its weights do not fit this model ({'; '.join(problems)}); use the model overrides of the run that wrote it"
        )


def lineage(path: str | Path, ckpt: dict[str, Any]) -> dict[str, Any]:
    """Which checkpoint this is and whether its run saved a better one (from ModelCheckpoint's state
    in it): epoch, global step, the monitored metric when it was saved, and the run's best."""
    state = next((v for k, v in (ckpt.get("callbacks") or {}).items() if k.startswith("ModelCheckpoint")), {})
    as_float = lambda v: None if v is None else float(v)  # noqa: E731 - tensors or floats in the state
    info = {
        "path": str(Path(path).expanduser().resolve()),
        "epoch": ckpt.get("epoch"),
        "global_step": ckpt.get("global_step"),
        "monitor": state.get("monitor"),
        "score": as_float(state.get("current_score")),
        "best_path": state.get("best_model_path") or None,
        "best_score": as_float(state.get("best_model_score")),
    }
    mode = state.get("mode", "min")
    better = info["best_score"] is not None and info["score"] is not None and info["best_path"] != info["path"]
    better = better and (info["best_score"] < info["score"] if mode == "min" else info["best_score"] > info["score"])
    info["better_exists"] = bool(better and Path(info["best_path"]).is_file())
    return info


def describe_lineage(info: dict[str, Any]) -> str:
    """One or two lines for genlab-eval's output."""
    score = f"; {info['monitor']} {info['score']:.4g} when saved" if info["score"] is not None else ""
    text = f"scored {info['path']} (epoch {info['epoch']}, global step {info['global_step']}{score})"
    if info["better_exists"]:
        text += f"\na better checkpoint of this run exists: {info['best_path']} ({info['monitor']} {info['best_score']:.4g}); evaluate it with ckpt_path={info['best_path']}"
    elif info["best_score"] is not None:
        text += f"; no checkpoint of its run is better by {info['monitor']}"
    return text
