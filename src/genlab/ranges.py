"""The values a numeric config key accepts, and the check that refuses the others before anything is built.

A range is written once, beside its default: in a schema dataclass (`ranged(16, AT_LEAST_1)`) or in a
model constructor's signature (`lr: Annotated[float, POSITIVE] = 1e-3`, which `genlab.schemas` turns
into the same field metadata). Hydra checks names and types while composing; `check_ranges` does the rest.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genlab.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """The values a numeric schema key accepts; `None` passes where the key is Optional."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def accepts(self, value: float) -> bool:
        return (
            math.isfinite(value)
            and (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
            and (self.lt is None or value < self.lt)
            and (self.le is None or value <= self.le)
        )

    def __str__(self) -> str:
        low = ("[", self.ge) if self.ge is not None else ("(", self.gt) if self.gt is not None else None
        high = (self.le, "]") if self.le is not None else (self.lt, ")") if self.lt is not None else None
        if low and high:
            return f"in {low[0]}{_number(low[1])}, {_number(high[0])}{high[1]}"
        if low:
            return f"{'>=' if low[0] == '[' else '>'} {_number(low[1])}"
        if high:
            return f"{'<=' if high[1] == ']' else '<'} {_number(high[0])}"
        return "finite"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


POSITIVE = Range(gt=0)  # rates, scales
AT_LEAST_1 = Range(ge=1)  # sizes, counts
NON_NEGATIVE = Range(ge=0)  # weights, optional counts
SEED = Range(ge=0, le=2**32 - 1)  # what numpy (and so Lightning's seed_everything) accepts
CHANNELS = Range(ge=1, le=4)  # grayscale .. RGBA


def ranged(default: Any, values: Range | None = None, **bounds: float) -> Any:
    """A schema field with a default and a Range (a preset, or `gt`, `ge`, `lt`, `le`), checked by `check_ranges`."""
    return field(default=default, metadata={"range": values or Range(**bounds)})


def check_ranges(cfg: DictConfig, prefix: str = "") -> None:
    """Raise ConfigError naming the first key whose value is out of its schema's range."""
    schema = OmegaConf.get_type(cfg)
    ranges = {f.name: f.metadata["range"] for f in dataclasses.fields(schema) if "range" in f.metadata} if dataclasses.is_dataclass(schema) else {}
    for key in map(str, cfg.keys()):
        if OmegaConf.is_missing(cfg, key):
            continue
        if isinstance(cfg._get_node(key), DictConfig):  # a nested config: no interpolation resolved yet
            check_ranges(cfg[key], f"{prefix}{key}.")
        elif key in ranges:
            value, node = cfg[key], cfg._get_node(key)
            if value is not None and not isinstance(value, bool) and not ranges[key].accepts(value):
                source = f" (from {node._value()})" if node._is_interpolation() else ""  # name the key the user set
                raise ConfigError(f"{prefix}{key}={value}{source}: must be {ranges[key]}")
