"""Convolutional VAE encoder/decoder for square images whose size is a multiple of 4 (8..64, 28).

With `num_classes > 0` both are class-conditional (the conditional VAE, model=cvae): the encoder
reads a learned per-class H x W map as one more input channel, the decoder a learned per-class
vector of latent_dim concatenated to z.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.errors import require_at_least


def _check_size(image_size: int) -> None:
    if image_size % 4 or not 8 <= image_size <= 64:
        raise ValueError(f"image_size={image_size}: the conv VAE takes multiples of 4 from 8 to 64 px")


class Encoder(nn.Module):
    """x -> (mu, logvar) of q(z|x), each N x latent_dim. Two stride-2 convs, then a linear head."""

    def __init__(self, image_size: int = 32, channels: int = 1, latent_dim: int = 16, width: int = 32, num_classes: int = 0) -> None:
        super().__init__()
        _check_size(image_size)
        require_at_least(1, channels=channels, latent_dim=latent_dim, width=width)
        require_at_least(0, num_classes=num_classes)
        s = image_size // 4
        self.num_classes, self.image_size = num_classes, image_size
        self.embed = nn.Embedding(num_classes, image_size * image_size) if num_classes else None
        self.net = nn.Sequential(
            nn.Conv2d(channels + (1 if num_classes else 0), width, 3, 1, 1),
            nn.SiLU(),
            nn.Conv2d(width, width, 4, 2, 1),
            nn.SiLU(),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(2 * width * s * s, 256),
            nn.SiLU(),
            nn.Linear(256, 2 * latent_dim),
        )

    def forward(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.embed is not None:
            x = torch.cat([x, self.embed(labels).view(len(x), 1, self.image_size, self.image_size)], dim=1)
        mu, logvar = self.net(x).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    """z -> likelihood parameters, N x out_channels x H x W (mirror of the encoder).

    `out_channels` is set by the VAE from its likelihood (e.g. 1 per channel for Bernoulli logits).
    """

    def __init__(self, out_channels: int, image_size: int = 32, latent_dim: int = 16, width: int = 32, num_classes: int = 0) -> None:
        super().__init__()
        _check_size(image_size)
        require_at_least(1, out_channels=out_channels, latent_dim=latent_dim, width=width)
        require_at_least(0, num_classes=num_classes)
        s = image_size // 4
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        self.net = nn.Sequential(
            nn.Linear(latent_dim * (2 if num_classes else 1), 256),
            nn.SiLU(),
            nn.Linear(256, 2 * width * s * s),
            nn.SiLU(),
            nn.Unflatten(1, (2 * width, s, s)),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.SiLU(),
            nn.ConvTranspose2d(width, width, 4, 2, 1),
            nn.SiLU(),
            nn.Conv2d(width, out_channels, 3, 1, 1),
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z)
