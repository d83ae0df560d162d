"""A GAN's latent encoder ("reverse generator"): images -> z, trained beside G and D (genlab.models.gan)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from genlab.errors import require_at_least
from genlab.nets.dcgan import dcgan_layout, downsampling_trunk, init_dcgan_weights


class LatentEncoder(nn.Module):
    """images (N x C x H x W in [-1, 1]) -> latent codes (N x latent_dim).

    The DCGAN discriminator's trunk (strided 4x4 convolutions, LeakyReLU, `norm` after the first
    layer) with a head that outputs `latent_dim` numbers instead of one logit. No label input: the
    class of a generated image is visible in the image itself.
    """

    def __init__(
        self,
        latent_dim: int = 64,
        image_size: int = 32,
        channels: int = 1,
        width: int = 32,
        norm: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        require_at_least(1, latent_dim=latent_dim, channels=channels, width=width)
        self.latent_dim = latent_dim
        start, n_down = dcgan_layout(image_size)
        layers, ch = downsampling_trunk(channels, width, n_down, norm)
        layers += [nn.Conv2d(ch, latent_dim, start, 1, 0), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
