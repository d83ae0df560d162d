"""DCGAN generator and discriminator (Radford et al. 2016) for square images of 8..64 px or 28 px."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from genlab.errors import require_at_least
from genlab.nets.spectral import DISCRIMINATOR_LAYERS, GENERATOR_LAYERS, spectral_normalize


def dcgan_layout(image_size: int) -> tuple[int, int]:
    """(start_size, n_upsamplings): the 4x4 (7x7 for 28 px) seed map is doubled until `image_size`."""
    start = 7 if image_size % 7 == 0 else 4
    n_up = math.log2(image_size / start)
    if image_size < 8 or image_size > 64 or n_up != int(n_up):
        raise ValueError(f"image_size={image_size}: DCGAN nets take 8, 16, 32, 64 or 28 px")
    return start, int(n_up)


def downsampling_trunk(channels: int, width: int, n_down: int, norm: Callable[[int], nn.Module] | None) -> tuple[list[nn.Module], int]:
    """The DCGAN discriminator's trunk: `n_down` strided 4x4 convolutions with LeakyReLU, `norm` after
    all but the first; returns the layers and the channels they end with (shared with the encoder)."""
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    ch = width
    for _ in range(n_down - 1):
        layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm is None)]
        layers += [norm(ch * 2)] if norm is not None else []
        layers += [nn.LeakyReLU(0.2, True)]
        ch *= 2
    return layers, ch


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) convolutions and N(1, 0.02) norm scales, as in the DCGAN paper."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (N x latent_dim) [+ class label] -> images (N x C x H x W) in [-1, 1].

    Width halves at every upsampling from `width * 2**n_up` channels down to `width`.
    With `num_classes > 0` the one-hot label is concatenated to z (conditional GAN).
    `norm` builds the normalisation layers (BatchNorm as in DCGAN; None: none, e.g. to test that
    data-parallel training equals one process, which batch statistics would break).
    `spectral_norm`: spectral normalisation of every convolution.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        image_size: int = 32,
        channels: int = 1,
        width: int = 64,
        num_classes: int = 0,
        norm: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        require_at_least(1, latent_dim=latent_dim, channels=channels, width=width)
        require_at_least(0, num_classes=num_classes)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        start, n_up = dcgan_layout(image_size)
        in_dim = latent_dim + num_classes
        ch = width * 2 ** (n_up - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, ch, start, 1, 0, bias=norm is None)]
        layers += [norm(ch)] if norm is not None else []
        layers += [nn.ReLU(True)]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=norm is None)]
            layers += [norm(ch // 2)] if norm is not None else []
            layers += [nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)
        if spectral_norm:
            spectral_normalize(self, GENERATOR_LAYERS)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.num_classes:
            # One-hot, not a learned embedding: with a learned 64-d one the MNIST cGAN drew one image per
            # class (pixel std over z 0.027, recall 0.006, FID 19.0); one-hot: recall 0.73, FID 2.7.
            z = torch.cat([z, nn.functional.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.net(z[:, :, None, None])


class MinibatchStd(nn.Module):
    """Appends one channel: how much the features vary within groups of `group_size` images, one number
    per group (Karras et al. 2018). D can then tell a batch of near-copies from real data, which varies.
    A batch not divisible by `group_size` uses the largest group size below it that divides it."""

    def __init__(self, group_size: int) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, h: Tensor) -> Tensor:
        n, c, height, width = h.shape
        g = next(k for k in range(min(self.group_size, n), 0, -1) if n % k == 0)
        groups = h.reshape(g, n // g, c, height, width)  # group m holds images m, m + n/g, m + 2n/g, ...
        std = (groups.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
        return torch.cat([h, std.repeat(g)[:, None, None, None].expand(n, 1, height, width)], dim=1)


class Discriminator(nn.Module):
    """images [+ class label] -> one logit per image.

    `norm` builds the normalisation layer from a channel count (BatchNorm by default as in DCGAN;
    None for a norm-free critic, which WGAN-GP's per-sample gradient penalty assumes).
    With `num_classes > 0` the label enters through a projection (Miyato & Koyama 2018).
    `spectral_norm`: spectral normalisation of every layer, the projection embedding included (SN-DCGAN).
    `minibatch_std` (a group size; 0: off): the head also sees the features' spread within groups of
    that many images (MinibatchStd).
    """

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 1,
        width: int = 64,
        num_classes: int = 0,
        norm: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        spectral_norm: bool = False,
        minibatch_std: int = 0,
    ) -> None:
        super().__init__()
        require_at_least(1, channels=channels, width=width)
        require_at_least(0, num_classes=num_classes, minibatch_std=minibatch_std)
        start, n_down = dcgan_layout(image_size)
        layers, ch = downsampling_trunk(channels, width, n_down, norm)
        self.features = nn.Sequential(*layers)
        self.spread = MinibatchStd(minibatch_std) if minibatch_std else nn.Identity()
        self.head = nn.Conv2d(ch + (1 if minibatch_std else 0), 1, start, 1, 0)
        self.embed = nn.Embedding(num_classes, ch * start * start) if num_classes else None
        self.apply(init_dcgan_weights)
        if self.embed is not None:
            # Xavier, as resnet.py's projection: nn.Embedding's N(0, 1) over ch*start*start features made
            # the class term ~50x the image term at start, and the MNIST cGAN drew one image per class.
            nn.init.xavier_uniform_(self.embed.weight)
        if spectral_norm:
            spectral_normalize(self, DISCRIMINATOR_LAYERS)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.features(x)
        logits = self.head(self.spread(h)).flatten()
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h.flatten(1)).sum(1)
        return logits
