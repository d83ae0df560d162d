"""The smallest trial there is, for the sweeper's many-worker tests: sleep, then score (x - 0.3)^2.

    python -m tests.sweeps.app hydra.sweeper.storage=URL hydra.sweeper.study_name=NAME hydra.sweep.dir=DIR

It runs genlab's Optuna sweeper (hydra/sweeper=genlab_optuna) with Hydra's basic launcher, like
genlab-train does, without the cost of training anything.
"""

from __future__ import annotations

import time

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="app")
def main(cfg: DictConfig) -> float:
    time.sleep(cfg.sleep)
    return (cfg.x - 0.3) ** 2


if __name__ == "__main__":
    main()
