"""hydra.sweeper.params (and sweep overrides on the command line) -> Optuna distributions."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from genlab.errors import ConfigError
from genlab.pruners import build_pruner
from hydra_plugins.genlab_optuna_sweeper._impl import grid, search_space


def test_the_old_sweepers_param_syntax_maps_to_optuna_distributions():
    space, fixed = search_space(
        [
            "model.loss=choice(hinge, lsgan)",
            "model.n_critic=range(1, 6, 2)",
            "model.beta=interval(0.5, 1.5)",
            "model.lr=tag(log, interval(1e-4, 1e-2))",
            "seed=7",
            "~callbacks.sample_grid",
        ]
    )
    assert space["model.loss"] == CategoricalDistribution(["hinge", "lsgan"])
    assert space["model.n_critic"] == IntDistribution(1, 5, step=2)  # range() excludes its stop, like Python's
    assert space["model.beta"] == FloatDistribution(0.5, 1.5)
    assert space["model.lr"] == FloatDistribution(1e-4, 1e-2, log=True)  # Hydra's interval() is always float: ints with range()
    assert fixed == ["seed=7", "~callbacks.sample_grid"]
    assert grid({k: space[k] for k in ("model.loss", "model.n_critic")}) == {"model.loss": ["hinge", "lsgan"], "model.n_critic": [1, 3, 5]}


def test_a_grid_over_a_continuous_interval_and_an_unknown_pruner_are_config_errors():
    space, _ = search_space(["model.beta=interval(0.5, 1.5)"])
    with pytest.raises(ConfigError, match="hydra.sweeper.params.model.beta: the grid sampler needs choice"):
        grid(space)
    with pytest.raises(ConfigError, match="hydra.sweeper.pruner=medain: expected one of none, median"):
        build_pruner("medain")
    assert type(build_pruner({"name": "median", "n_warmup_steps": 4})).__name__ == "MedianPruner"
