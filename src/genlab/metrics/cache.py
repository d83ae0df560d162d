"""Cache keys and files for trained feature extractors and real-image features (under paths.cache_dir)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

#: Dataset config keys that change how batches are served, not which images there are.
# Keys that change neither the evaluation splits nor the classifier (trained on the whole training
# split; see InMemoryImageDataModule.train_fraction): cached features and floors are shared across them.
LOADER_KEYS = ("batch_size", "num_workers", "device_resident", "train_fraction")


def config_hash(config: Any, length: int = 10) -> str:
    """A short, stable hash of a JSON-like config."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:length]


def dataset_key(dataset_config: dict[str, Any]) -> str:
    """`<name>-<size>px-<hash>` for a dataset config, e.g. `mnist-28px-3f2a...`.

    The hash covers every key that changes the images (data_dir made absolute, split choice,
    binarization, ...), so two datasets never share cached features.
    """
    cfg = {k: v for k, v in dataset_config.items() if k not in LOADER_KEYS}
    if cfg.get("data_dir"):
        cfg["data_dir"] = str(Path(cfg["data_dir"]).expanduser().resolve())
    name = str(cfg.get("_target_", "dataset")).rsplit(".", 1)[-1].lower().removesuffix("datamodule") or "dataset"
    size = cfg.get("image_size", cfg.get("crop_size", "native"))  # unpaired data: the crop is what models see
    return f"{name}-{size}px-{config_hash(cfg)}"


def save_atomic(obj: dict[str, Any], path: Path) -> Path:
    """torch.save through a temporary file, so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
    return path


def load(path: Path) -> dict[str, Any] | None:
    """The cached dict at `path` (tensors and plain containers only), or None if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a corrupt cache entry is recomputed, not fatal
        return None
