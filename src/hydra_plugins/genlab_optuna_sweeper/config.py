"""Structured configs of the `genlab_optuna` sweeper and its samplers, registered in Hydra's ConfigStore.

Hydra imports this module at every start (plugin discovery): it must not import Optuna. No
`from __future__ import annotations`: the dataclasses' annotations are read at run time (OmegaConf),
and Hydra's plugin scanner executes this module before it is in sys.modules.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TPESamplerConfig:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: Optional[bool] = None
    group: bool = False
    # Workers asking while others run score those running trials pessimistically: no duplicates.
    constant_liar: bool = True


@dataclass
class RandomSamplerConfig:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: Optional[int] = None


@dataclass
class GridSamplerConfig:
    _target_: str = "optuna.samplers.GridSampler"
    _partial_: bool = True  # the search space comes from hydra.sweeper.params at sweep time
    seed: Optional[int] = None


@dataclass
class CmaEsSamplerConfig:
    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: Optional[int] = None
    n_startup_trials: int = 1
    consider_pruned_trials: bool = False
    use_separable_cma: bool = False


@dataclass
class GPSamplerConfig:
    _target_: str = "optuna.samplers.GPSampler"
    seed: Optional[int] = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False


@dataclass
class QMCSamplerConfig:
    _target_: str = "optuna.samplers.QMCSampler"
    seed: Optional[int] = None
    qmc_type: str = "sobol"
    scramble: bool = False


@dataclass
class NSGAIISamplerConfig:
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: Optional[int] = None
    population_size: int = 50


@dataclass
class GenlabOptunaSweeperConf:
    _target_: str = "hydra_plugins.genlab_optuna_sweeper.sweeper.GenlabOptunaSweeper"
    # The sweeper builds sampler and pruner itself: the pruner's spec also goes to the jobs (genlab.pruners).
    _recursive_: bool = False
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])
    sampler: Any = MISSING
    # minimize | maximize (genlab optimises one metric: `optimized_metric`).
    direction: Any = "minimize"
    # None (in memory), an RDB URL (sqlite:///..., postgresql://user:pw@host/db) or journal:///abs/path.log.
    storage: Optional[str] = None
    study_name: Optional[str] = None
    # Trials of this run; workers that run at the same time on one study share them (docs/sweeps.md).
    n_trials: int = 20
    # Trials asked and launched together (the launcher runs them in parallel, e.g. joblib).
    n_jobs: int = 1
    # Share of crashed jobs (exceptions that reach Hydra, not the `inf` of a diverged trial) tolerated per batch.
    max_failure_rate: float = 0.0
    # key: choice(...) | range(...) | interval(...) | tag(log, interval(...)) | a fixed value.
    params: Optional[Dict[str, str]] = None
    # none | median | successive_halving | hyperband, or {name: NAME, ...arguments} / {_target_: optuna.pruners.X, ...}.
    pruner: Any = "none"
    # A worker's trials are alive while it records their heartbeat every heartbeat_interval seconds;
    # a trial silent for grace_period seconds (its worker was killed) fails and is retried max_retry times.
    heartbeat_interval: Optional[int] = 60
    grace_period: Optional[int] = 180
    max_retry: Optional[int] = 1
    # At the end: <sweep dir>/report/ with summary.csv and plots (genlab.sweep_report).
    report: bool = True


store = ConfigStore.instance()
store.store(group="hydra/sweeper", name="genlab_optuna", node=GenlabOptunaSweeperConf, provider="genlab")
for name, node in {
    "tpe": TPESamplerConfig,
    "random": RandomSamplerConfig,
    "grid": GridSamplerConfig,
    "cmaes": CmaEsSamplerConfig,
    "gp": GPSamplerConfig,
    "qmc": QMCSamplerConfig,
    "nsgaii": NSGAIISamplerConfig,
}.items():
    store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="genlab")
