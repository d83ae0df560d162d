"""ResNet generator and discriminator of SNGAN (Miyato et al. 2018) and BigGAN (Brock et al. 2019).

G: z -> linear -> a `bottom` x `bottom` map -> residual blocks that each double the size (BatchNorm,
ReLU, nearest-neighbour upsampling, two 3x3 convolutions, a 1x1 shortcut) -> BN, ReLU, 3x3 conv, tanh.
D: residual blocks (ReLU, two 3x3 convolutions, 2x2 average pooling; the first block without a
leading ReLU) -> ReLU -> sum over positions -> a linear logit. Labelled data (`num_classes > 0`):
class-conditional BatchNorm in G, a projection term in D (Miyato & Koyama 2018).

Widths per image size follow SNGAN's CIFAR-10 nets (32 px: G 256, D 128 channels at width=64) and
mimicry's / BigGAN's ImageNet nets for 48, 64 and 128 px; 16 and 28 px (digits, MNIST) use the
CIFAR layout with one block fewer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.nets.spectral import DISCRIMINATOR_LAYERS, GENERATOR_LAYERS, spectral_normalize


@dataclass(frozen=True)
class Layout:
    """Channels as multiples of `width`. G: the bottom map's, then each up block's output.
    D: each block's output, and whether it halves the size."""

    bottom: int
    g_channels: tuple[int, ...]
    d_channels: tuple[int, ...]
    d_down: tuple[bool, ...]


LAYOUTS: dict[int, Layout] = {
    16: Layout(4, (4, 4, 4), (2, 2, 2), (True, True, False)),
    28: Layout(7, (4, 4, 4), (2, 2, 2), (True, True, False)),
    32: Layout(4, (4, 4, 4, 4), (2, 2, 2, 2), (True, True, False, False)),
    48: Layout(6, (8, 4, 2, 1), (1, 2, 4, 8, 16), (True, True, True, True, False)),
    64: Layout(4, (16, 8, 4, 2, 1), (1, 2, 4, 8, 16), (True, True, True, True, False)),
    128: Layout(4, (16, 16, 8, 4, 2, 1), (1, 2, 4, 8, 16, 16), (True, True, True, True, True, False)),
}


def layout(image_size: int) -> Layout:
    if image_size not in LAYOUTS:
        raise ValueError(f"image_size={image_size}: ResNet GAN nets take {', '.join(map(str, LAYOUTS))} px")
    return LAYOUTS[image_size]


def _xavier(module: nn.Module, gain: float) -> nn.Module:
    # SNGAN's initialisation: Xavier-uniform, gain sqrt(2) inside residual branches, 1 elsewhere.
    nn.init.xavier_uniform_(module.weight, gain)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def conv(c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2)) -> nn.Conv2d:
    return _xavier(nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2), gain)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are looked up per class (plain affine BatchNorm without classes)."""

    def __init__(self, channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=not num_classes)
        self.scale = nn.Embedding(num_classes, channels) if num_classes else None
        self.shift = nn.Embedding(num_classes, channels) if num_classes else None
        if num_classes:
            nn.init.ones_(self.scale.weight)
            nn.init.zeros_(self.shift.weight)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        x = self.bn(x)
        if self.scale is None:
            return x
        return x * self.scale(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]


class GBlock(nn.Module):
    """BN, ReLU, upsample x2, conv 3x3, BN, ReLU, conv 3x3; shortcut: upsample x2, conv 1x1."""

    def __init__(self, c_in: int, c_out: int, num_classes: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm2d(c_in, num_classes), ConditionalBatchNorm2d(c_out, num_classes)
        self.conv1, self.conv2 = conv(c_in, c_out, 3), conv(c_out, c_out, 3)
        self.shortcut = conv(c_in, c_out, 1, gain=1.0)

    def forward(self, x: Tensor, labels: Tensor | None) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, labels)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), labels)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """[ReLU,] conv 3x3, ReLU, conv 3x3[, avg-pool 2]; shortcut: conv 1x1 (when the shape changes).

    The first block (`first=True`, SNGAN's "optimized" block) starts with the convolution, not a
    ReLU of the image, and pools its shortcut before the 1x1 convolution.
    """

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = conv(c_in, c_out, 3), conv(c_out, c_out, 3)
        self.shortcut = conv(c_in, c_out, 1, gain=1.0) if (down or c_in != c_out or first) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first and self.down:
            s = self.shortcut(F.avg_pool2d(s, 2))
        elif self.shortcut is not None:
            s = self.shortcut(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class Generator(nn.Module):
    """z (N x latent_dim) [+ class label] -> images (N x C x H x W) in [-1, 1].

    `spectral_norm`: spectral normalisation of G's convolutions and linear map (BigGAN; SNGAN
    normalises D only).
    """

    def __init__(
        self,
        latent_dim: int = 128,
        image_size: int = 32,
        channels: int = 3,
        width: int = 64,
        num_classes: int = 0,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        spec = layout(image_size)
        chans = [width * m for m in spec.g_channels]
        self.bottom = spec.bottom
        self.linear = _xavier(nn.Linear(latent_dim, chans[0] * spec.bottom**2), 1.0)
        self.blocks = nn.ModuleList(GBlock(c_in, c_out, num_classes) for c_in, c_out in zip(chans, chans[1:]))
        self.bn = nn.BatchNorm2d(chans[-1])
        self.out = conv(chans[-1], channels, 3, gain=1.0)
        if spectral_norm:
            spectral_normalize(self, GENERATOR_LAYERS)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.linear(z).view(z.shape[0], -1, self.bottom, self.bottom)  # shape[0], not len(): stays symbolic when exported
        for block in self.blocks:
            h = block(h, labels if self.num_classes else None)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class Discriminator(nn.Module):
    """images [+ class label] -> one logit per image; `spectral_norm` normalises every layer (SNGAN)."""

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        width: int = 64,
        num_classes: int = 0,
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        spec = layout(image_size)
        chans = [channels] + [width * m for m in spec.d_channels]
        self.blocks = nn.Sequential(
            *(DBlock(c_in, c_out, down, first=i == 0) for i, (c_in, c_out, down) in enumerate(zip(chans, chans[1:], spec.d_down)))
        )
        self.linear = _xavier(nn.Linear(chans[-1], 1), 1.0)
        self.embed = nn.Embedding(num_classes, chans[-1]) if num_classes else None
        if self.embed is not None:
            nn.init.xavier_uniform_(self.embed.weight)
        if spectral_norm:
            spectral_normalize(self, DISCRIMINATOR_LAYERS)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        logits = self.linear(h).flatten()
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h).sum(1)
        return logits
