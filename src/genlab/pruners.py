"""`hydra.sweeper.pruner` -> an Optuna pruner: a name from PRUNERS, or a mapping {name: NAME, ...} or
{_target_: optuna.pruners.X, ...} whose other keys are the pruner's arguments.

Optuna keeps no pruner in the storage: a job that asks `should_prune()` uses the pruner of the study
object it loaded. So the sweeper saves this spec in the study (`PRUNER_ATTR`) and each job builds
the same pruner from it (`genlab.pruning`)."""

from __future__ import annotations

from typing import Any

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genlab.errors import ConfigError

#: Study system attribute: the pruner spec (plain JSON) the jobs build their pruner from.
PRUNER_ATTR = "genlab:pruner"

#: Pruners by name, with genlab's defaults. A "step" is one evaluation of the monitored metric
#: (val/fid every metrics.every_n_epochs epochs, val/nll every epoch), counted from 0 in each trial.
PRUNERS: dict[str, tuple[type[optuna.pruners.BasePruner], dict[str, Any]]] = {
    "none": (optuna.pruners.NopPruner, {}),
    # Stop a trial whose value is worse than the median of earlier trials at the same evaluation,
    # once 5 trials have finished and from its third evaluation on (early FIDs say little).
    "median": (optuna.pruners.MedianPruner, {"n_startup_trials": 5, "n_warmup_steps": 2}),
    "successive_halving": (optuna.pruners.SuccessiveHalvingPruner, {}),
    "hyperband": (optuna.pruners.HyperbandPruner, {}),
}


def pruner_spec(spec: Any) -> Any:
    """The spec as plain JSON (a name or a dict), after checking that it builds."""
    if isinstance(spec, DictConfig):
        spec = OmegaConf.to_container(spec, resolve=True)
    build_pruner(spec)
    return "none" if spec is None else spec


def build_pruner(spec: Any) -> optuna.pruners.BasePruner:
    if isinstance(spec, DictConfig):
        spec = OmegaConf.to_container(spec, resolve=True)
    if spec is None:
        spec = "none"
    if isinstance(spec, dict) and "_target_" in spec:
        if not str(spec["_target_"]).startswith("optuna.pruners."):
            raise ConfigError(f"hydra.sweeper.pruner._target_={spec['_target_']}: expected a class of optuna.pruners")
        return instantiate(spec)
    name, kwargs = (spec.get("name"), {k: v for k, v in spec.items() if k != "name"}) if isinstance(spec, dict) else (str(spec), {})
    if name not in PRUNERS:
        raise ConfigError(f"hydra.sweeper.pruner={name}: expected one of {', '.join(PRUNERS)} (or {{name: NAME, ...arguments}})")
    cls, defaults = PRUNERS[name]
    try:
        return cls(**{**defaults, **kwargs})
    except TypeError as err:
        raise ConfigError(f"hydra.sweeper.pruner: {name} does not take these arguments: {err}") from None
