"""What sample metrics compare: streams of generated images paired with a real reference split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class MetricStream:
    """One (generated, real) pair of image sets.

    `fake(indices, generator)` returns the generated images with these indices (float NCHW in
    [-1, 1]); image i must not depend on how indices are batched or sharded across ranks (the caller
    seeds `generator` per batch). `real()` returns the reference images (uint8 NCHW); it is called
    only when their features are not cached yet, and `reference` names them in cache keys and in the
    protocol. Metric keys get `suffix` appended (`val/fid` + `_a2b`).
    """

    reference: str
    real: Callable[[], Tensor]
    fake: Callable[[Tensor, torch.Generator], Tensor]
    num_fake: int
    suffix: str = ""
