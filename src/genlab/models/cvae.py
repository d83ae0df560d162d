"""Conditional VAE (Sohn et al. 2015): q(z | x, y), p(x | z, y), with a learned label embedding in the
encoder and the decoder (genlab.nets.vae with `num_classes > 0`); p(z) = N(0, I) for every class.

`genlab-sample labels=[3,3,7]` / `label=3` draws digits of the given classes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genlab.errors import ConfigError
from genlab.models.base import evaluating
from genlab.models.vae import VAE


class ConditionalVAE(VAE):
    """A VAE whose encoder and decoder also take the class label (batches are (images, labels))."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.num_classes = int(getattr(self.encoder, "num_classes", 0))
        if not self.num_classes or getattr(self.decoder, "num_classes", 0) != self.num_classes:
            raise ConfigError("model=cvae: encoder.num_classes and decoder.num_classes must be equal and > 0 (the dataset's classes)")
        # The labels of the batch being scored: the likelihood terms (VAE.elbo_terms, importance_nll)
        # call encode/decode with images or latents only.
        self.batch_labels: Tensor | None = None

    def _labels(self, n: int, labels: Tensor | None) -> Tensor:
        labels = self.batch_labels if labels is None else labels
        if labels is None:
            raise ConfigError("the conditional VAE needs the class of every image (labels=...)")
        # importance_nll decodes K latents per image as one K*N batch, image index fastest.
        return labels.repeat(n // len(labels)) if n != len(labels) else labels

    def encode(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.encoder(x, self._labels(len(x), labels))

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.decoder(z, self._labels(len(z), labels))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """Decoder means for z ~ N(0, I) and `labels` (default: 0..K-1 cycling)."""
        labels = torch.arange(n, device=self.device) % self.num_classes if labels is None else labels.to(self.device)
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        with evaluating(self.decoder):
            return self.likelihood.mean(self.decoder(z, labels))

    @torch.no_grad()
    def reconstruct(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        with evaluating(self):
            return self.likelihood.mean(self.decode(self.encode(x, labels)[0], labels))

    def visuals(self, batch: Any, generator: torch.Generator) -> dict[str, Tensor]:
        x, labels = batch[0], batch[1]
        return {"samples": self.sample(len(x), generator), "reconstructions": torch.cat([x, self.reconstruct(x, labels)])}
