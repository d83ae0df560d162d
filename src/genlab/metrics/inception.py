"""The standard InceptionV3 extractor (torchmetrics' port of the TF FID network): paper-comparable FID.

Needs the optional `inception` extra (torch-fidelity, torchvision). Without it the spec fails at
start-up, before any training, with one sentence saying what to install.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor

from genlab.errors import ConfigError
from genlab.metrics.extractors import FeatureExtractor

INSTALL_HINT = (
    "metrics.features=inception needs the optional 'inception' extra (torch-fidelity and torchvision): "
    "run `pip install 'genlab[inception]'`, or use metrics/features=classifier offline"
)


def torch_fidelity_available() -> bool:
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

    return bool(_TORCH_FIDELITY_AVAILABLE)


class InceptionV3Features(FeatureExtractor):
    """2048-d pool features and 1008-way logits of torchmetrics' NoTrainInceptionV3 (resized to 299 px)."""

    name = "inception"
    num_features = 2048
    num_classes = 1008

    def __init__(self, weights: str | None) -> None:
        from torchmetrics.image.fid import NoTrainInceptionV3

        super().__init__(
            key="inception-v3-compat", info={"weights": weights or "torch-fidelity default (downloaded)", "resize": "bilinear to 299 px"}
        )
        self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"], feature_extractor_weights_path=weights)
        self.eval()

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        uint8 = (images.clamp(0, 1) * 255).round().to(torch.uint8)
        if uint8.shape[1] == 1:  # grayscale datasets: replicate to RGB as the network expects
            uint8 = uint8.expand(-1, 3, -1, -1)
        features, logits = self.net._torch_fidelity_forward(uint8)
        return features.reshape(len(images), -1), logits.reshape(len(images), -1)


class InceptionFeatures:
    """Spec of `metrics/features=inception`; `weights` is a local torch-fidelity weights file (or None: download)."""

    name = "inception"

    def __init__(self, weights: str | None = None) -> None:
        if not torch_fidelity_available():
            raise ConfigError(INSTALL_HINT)
        if weights is not None and not Path(weights).expanduser().is_file():
            raise ConfigError(f"metrics.inception_weights={weights}: no such file")
        self.weights = str(Path(weights).expanduser()) if weights else None

    def build(self, datamodule: pl.LightningDataModule, dataset_key: str, cache_dir: str | Path | None) -> FeatureExtractor:
        return InceptionV3Features(self.weights)
