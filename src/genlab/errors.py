"""User-facing errors: raised for bad input, reported as one sentence instead of a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class ConfigError(ValueError):
    """Bad user input (config value, path, checkpoint). The message names the key/file and the fix."""


def report_config_errors(fn: F) -> F:
    """Turn a ConfigError inside an entry point into `genlab: error: ...` on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as err:
            print(f"genlab: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper  # type: ignore[return-value]


def require_at_least(minimum: int, **values: int) -> None:
    """For net constructors: a size below `minimum` fails at instantiation, where `instantiate` below
    names the config key (`model.generator: latent_dim=0: must be >= 1`), not in the first forward."""
    for name, value in values.items():
        if value < minimum:
            raise ValueError(f"{name}={value}: must be >= {minimum}")


def instantiate(config: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, re-raising bad arguments as a ConfigError naming the config key."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        return hydra_instantiate(config, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        if isinstance(cause, (ValueError, TypeError, MisconfigurationException)):  # the last: Trainer arguments
            # Hydra's message ends with "full_key: model.generator": name that key.
            key = str(err).rsplit("full_key:", 1)[-1].strip() if "full_key:" in str(err) else "config"
            raise ConfigError(f"{key}: {cause}") from None
        raise
