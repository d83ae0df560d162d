"""Convolutional VAE encoder/decoder for square images whose size is a multiple of 4 (8..64, 28)."""

from __future__ import annotations

from torch import Tensor, nn

from genlab.errors import require_at_least


def _check_size(image_size: int) -> None:
    if image_size % 4 or not 8 <= image_size <= 64:
        raise ValueError(f"image_size={image_size}: the conv VAE takes multiples of 4 from 8 to 64 px")


class Encoder(nn.Module):
    """x -> (mu, logvar) of q(z|x), each N x latent_dim. Two stride-2 convs, then a linear head."""

    def __init__(self, image_size: int = 32, channels: int = 1, latent_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        _check_size(image_size)
        require_at_least(1, channels=channels, latent_dim=latent_dim, width=width)
        s = image_size // 4
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1),
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

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.net(x).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    """z -> likelihood parameters, N x out_channels x H x W (mirror of the encoder).

    `out_channels` is set by the VAE from its likelihood (e.g. 1 per channel for Bernoulli logits).
    """

    def __init__(self, out_channels: int, image_size: int = 32, latent_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        _check_size(image_size)
        require_at_least(1, out_channels=out_channels, latent_dim=latent_dim, width=width)
        s = image_size // 4
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
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

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)
