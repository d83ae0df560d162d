"""A run dir holds one run: a new run refuses a dir that holds another run's checkpoints or records.

Lightning would version the checkpoints beside the new ones (last-v1.ckpt) and delete metrics.csv;
config.yaml, result.json and the grids would describe the new run only, and Hydra would rewrite
.hydra/ (the overrides that made the run) and append to its log. `RunDirGuard` refuses such a run
before Hydra writes anything; `genlab.train` checks again for `paths.output_dir`, which a config may
point elsewhere than `hydra.run.dir`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from genlab.errors import ConfigError, report_config_errors


def check_new_run_dir(cfg: DictConfig, run_dir: Path, key: str = "paths.output_dir") -> None:
    """Raise a ConfigError naming `key` if a new run (`cfg.ckpt_path` null) would start in `run_dir`
    while it holds a run.

    `ckpt_path=auto` starts afresh there on purpose: a requeued job whose first attempt died before
    its first checkpoint. Every rank checks before fitting, when no rank has written any of these yet.
    """
    if cfg.ckpt_path is not None:
        return  # resuming (last, auto or a file) continues the run that is there
    records = [*run_dir.glob("checkpoints/*.ckpt"), run_dir / "metrics.csv", run_dir / "metrics.jsonl"]
    found = sorted(str(path.relative_to(run_dir)) for path in records if path.is_file())
    if found:
        raise ConfigError(
            f"{key}={run_dir} already holds a run ({', '.join(found)}), which a new run there would overwrite: "
            "resume it with ckpt_path=last, or start in a new dir (hydra.run.dir=...)"
        )


class RunDirGuard(Callback):
    """Hydra callback of genlab-train: check `hydra.run.dir` when a single run starts, before Hydra
    creates the dir, writes .hydra/ or opens the log there (sweep jobs each get a dir of their own)."""

    @report_config_errors
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_new_run_dir(config, Path(config.hydra.run.dir), key="hydra.run.dir")
