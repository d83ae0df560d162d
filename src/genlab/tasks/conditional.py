"""Class-conditional sampling: `labels=[3,3,7]` (one sample each) or `label=3` (every sample), for any
model with `num_classes > 0` (cGAN, the conditional VAE and PixelRNN); a clear error for an
unconditional one. `guidance=W`: a conditional PixelRNN's classifier-free guidance scale."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genlab.errors import ConfigError


def num_classes(model: Any) -> int:
    return int(getattr(model, "num_classes", 0) or 0)


def requested_labels(cfg: Any, model: Any) -> Tensor | None:
    """The labels asked for on the command line (None: none asked), checked against the model's classes."""
    if cfg.labels is not None and cfg.label is not None:
        raise ConfigError("labels and label: set one of them (labels=[3,3,7] for one sample per label, label=3 for all samples)")
    if cfg.labels is None and cfg.label is None:
        return None
    labels = torch.tensor(list(cfg.labels) if cfg.labels is not None else [cfg.label] * cfg.num_samples, dtype=torch.long)
    key = "labels" if cfg.labels is not None else "label"
    k = num_classes(model)
    if not k:
        raise ConfigError(f"{key}: {type(model).__name__} models here are unconditional (trained without labels); use model=cgan or model=cvae")
    if len(labels) == 0 or int(labels.min()) < 0 or int(labels.max()) >= k:
        raise ConfigError(f"{key}={cfg.labels if cfg.labels is not None else cfg.label}: labels must be in 0..{k - 1} (the model's {k} classes)")
    return labels


def set_guidance(model: Any, guidance: float | None) -> None:
    """genlab-sample guidance=W: the classifier-free guidance scale, for a model that samples with one."""
    if guidance is None:
        return
    if not hasattr(model, "guidance"):
        raise ConfigError(
            f"guidance={guidance}: classifier-free guidance is a class-conditional PixelRNN's (trained with "
            f"model.label_dropout > 0), not {type(model).__name__} models'; leave guidance unset"
        )
    model.guidance = guidance  # the model refuses a scale it cannot sample with


def default_labels(model: Any, n: int) -> Tensor | None:
    """0, 1, ..., K-1, 0, 1, ... for a conditional model (each grid row shows every class); None otherwise."""
    k = num_classes(model)
    return torch.arange(n) % k if k else None


@torch.no_grad()
def sample_labelled(model: Any, labels: Tensor, batch_size: int, generator: torch.Generator) -> Tensor:
    """One sample per label, drawn in chunks of `batch_size`."""
    chunks = [model.sample(len(part), generator=generator, labels=part.to(model.device)).cpu() for part in labels.split(batch_size)]
    return torch.cat(chunks)
