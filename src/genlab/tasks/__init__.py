"""What genlab-sample does after training besides drawing samples (`task=...`): complete partial
images (`complete`), interpolate between latent codes (`interpolate`), and write labelled samples as
a class-per-folder image tree (`format=folder`, see `folder`). Checkpoints are read by genlab.sample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from genlab.errors import ConfigError

T = TypeVar("T", bound=Callable[..., Any])


def family_entry(model: Any, registry: Mapping[str, T], what: str) -> T:
    """The registry entry for `model`'s class or its nearest ancestor (keys are class names); a
    ConfigError naming the task and the families that can do it otherwise. Entries with a true
    `refuses` attribute raise their own sentence (a subclass that cannot do what its parent does)."""
    for cls in type(model).__mro__:
        if cls.__name__ in registry:
            return registry[cls.__name__]
    able = [name for name, entry in registry.items() if not getattr(entry, "refuses", False)]
    raise ConfigError(f"{what}: {type(model).__name__} models cannot do this (families that can: {', '.join(able)})")
