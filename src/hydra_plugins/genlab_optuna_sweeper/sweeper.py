"""The Hydra Sweeper plugin class; the work is in `_impl` (imported when a sweep starts, not at discovery)."""

from __future__ import annotations

import sys
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class GenlabOptunaSweeper(Sweeper):
    """Optuna ask/tell over `hydra.sweeper.params`, jobs run by the configured Hydra launcher."""

    def __init__(self, **options: Any) -> None:
        from ._impl import OptunaSweep

        self.sweep_impl = OptunaSweep(**options)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweep_impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        from genlab.errors import ConfigError

        try:
            self.sweep_impl.sweep(arguments)
        except ConfigError as err:  # a bad sweeper setting: one sentence, before any job ran (as genlab-train does)
            print(f"genlab: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
