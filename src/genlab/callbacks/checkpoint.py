"""ModelCheckpoint that keeps only last.ckpt when the model has no monitored metric yet."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.callbacks import ModelCheckpoint as _ModelCheckpoint


class ModelCheckpoint(_ModelCheckpoint):
    """Lightning's ModelCheckpoint; with `monitor=None` it writes last.ckpt only (no duplicate 'best')."""

    def __init__(self, monitor: str | None = None, save_top_k: int = 1, **kwargs: Any) -> None:
        super().__init__(monitor=monitor, save_top_k=save_top_k if monitor else 0, **kwargs)
