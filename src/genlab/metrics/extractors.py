"""Feature extractors: images -> (features, class logits). Chosen by config (`metrics/features=...`).

An extractor *spec* is what the config instantiates (cheap, validated at start-up); its `build`
returns the FeatureExtractor, training or loading weights as needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import pytorch_lightning as pl
from torch import Tensor, nn

from genlab.errors import ConfigError


class FeatureExtractor(nn.Module):
    """Maps float NCHW images in [0, 1] (at the dataset's size) to (features N x num_features,
    logits N x num_classes or None). Always in eval mode, without gradients.

    `name` goes into metric names ("classifier FID"), `key` into cache file names (unique per set of
    weights), `info` into every metric's protocol (e.g. held-out accuracy).
    """

    name: str = "features"
    num_features: int
    num_classes: int = 0

    def __init__(self, key: str, info: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.key = key
        self.info = dict(info or {})

    def train(self, mode: bool = True) -> FeatureExtractor:
        # Features must not change while a metric is being computed (BatchNorm, dropout).
        return super().train(False)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def protocol(self) -> dict[str, Any]:
        return {"extractor": self.name, "extractor_key": self.key, **self.info}


class ExtractorSpec(Protocol):
    """What `metrics.features` instantiates."""

    def build(self, datamodule: pl.LightningDataModule, dataset_key: str, cache_dir: str | Path | None) -> FeatureExtractor:
        """The extractor for this dataset: loaded from `cache_dir` or made (and cached) now."""
        ...


def check_spec(features: Any) -> ExtractorSpec:
    """`features` if it is an extractor spec; a ConfigError naming the right override if it is a bare name."""
    if isinstance(features, str):
        raise ConfigError(
            f"metrics.features={features!r} sets a value; pick the extractor config group with "
            f"metrics/features={features} (classifier, inception or random_cnn)"
        )
    if not callable(getattr(features, "build", None)):
        raise ConfigError(f"metrics.features: {type(features).__name__} is not a feature extractor spec (it needs a build method)")
    return features


class Precomputed(nn.Module):
    """The `feature=` module of genlab's torchmetrics metrics: features arrive already extracted.

    One extractor pass then feeds FID, KID, IS and precision/recall, and torchmetrics never builds
    (or downloads) its own InceptionV3.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features
