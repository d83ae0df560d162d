"""Small untrained (or briefly trained) checkpoints in genlab's own format, written in-process.

A checkpoint is what genlab-train's Lightning checkpoint holds that genlab reads back: the resolved
model/dataset config under "genlab" and the weights under "state_dict" (genlab.checkpoint).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab.models.base import GenerativeModule
from genlab.train import build_model


def build(compose_cfg, *overrides: str) -> GenerativeModule:
    """The model genlab-train would build for these overrides (untrained)."""
    torch.manual_seed(0)
    return build_model(compose_cfg(*overrides))


def save(model: GenerativeModule, path: Path) -> Path:
    torch.save({"genlab": model.genlab_config, "state_dict": model.state_dict()}, path)
    return path
