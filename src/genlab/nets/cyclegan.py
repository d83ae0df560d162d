"""CycleGAN nets (Zhu et al. 2017): the ResNet generator and the PatchGAN discriminator.

Layouts follow the official code (junyanz/pytorch-CycleGAN-and-pix2pix): InstanceNorm without affine
parameters, reflection padding in the generator, N(0, 0.02) initialisation.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import Tensor, nn

from genlab.errors import ConfigError, require_at_least

Norm = Callable[[int], nn.Module]
#: The official default: per-image statistics, no learned scale/shift, no running averages.
instance_norm: Norm = partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)


def init_normal(module: nn.Module, gain: float = 0.02) -> None:
    """Convolutions ~ N(0, gain), biases 0; affine norms ~ N(1, gain) (the official `init_type=normal`)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, gain)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, gain)
        nn.init.zeros_(module.bias)


def transpose_up(c_in: int, c_out: int) -> list[nn.Module]:
    """The paper's fractionally strided 3x3 conv: kernel overlaps alternate between output pixels,
    which prints a checkerboard (Odena et al. 2016) until training irons it out."""
    return [nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)]


def resize_up(c_in: int, c_out: int) -> list[nn.Module]:
    """Nearest-neighbour x2, then a reflection-padded 3x3 conv: every output pixel gets the same
    kernel coverage, so no checkerboard (Odena et al. 2016, "resize-convolution")."""
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]


#: `ResnetGenerator(upsample=...)`: how the decoder doubles the resolution.
UPSAMPLERS: dict[str, Callable[[int, int], list[nn.Module]]] = {"transpose": transpose_up, "resize": resize_up}


class ResnetBlock(nn.Module):
    """x + [pad, conv3x3, norm, ReLU, pad, conv3x3, norm](x), with reflection padding."""

    def __init__(self, dim: int, norm: Norm = instance_norm, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim), nn.ReLU(True)]
        layers += [nn.Dropout(dropout)] if dropout > 0 else []
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """c7s1-w, `n_downsampling` stride-2 convs (d2w, d4w), `n_blocks` residual blocks, as many
    fractionally strided convs back up, c7s1-C and tanh: images in [-1, 1] of the input's size.

    Paper settings: 9 blocks for 256 px, 6 for 128 px; fewer are enough for small crops. The input
    side must be divisible by 2**n_downsampling. `upsample`: "transpose" (the paper's) or "resize"
    (nearest-neighbour + conv, free of checkerboard artefacts); see UPSAMPLERS.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 64,
        n_blocks: int = 9,
        n_downsampling: int = 2,
        norm: Norm = instance_norm,
        dropout: float = 0.0,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        if upsample not in UPSAMPLERS:
            raise ConfigError(f"model.generator.upsample={upsample!r}: expected one of {sorted(UPSAMPLERS)}")
        require_at_least(1, in_channels=in_channels, out_channels=out_channels, width=width)
        require_at_least(0, n_blocks=n_blocks, n_downsampling=n_downsampling)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), norm(width), nn.ReLU(True)]
        ch = width
        for _ in range(n_downsampling):
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), norm(ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch, norm, dropout) for _ in range(n_blocks)]
        for _ in range(n_downsampling):
            layers += [*UPSAMPLERS[upsample](ch, ch // 2), norm(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.factor = 2**n_downsampling
        self.apply(init_normal)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % self.factor or x.shape[-2] % self.factor:
            raise ValueError(f"image size {tuple(x.shape[-2:])} must be divisible by {self.factor}")
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): one real/fake logit per overlapping patch.

    With `n_layers=3` each output sees a 70x70 patch: C64 (no norm) - C128 - C256 - C512 (stride 1) -
    a 1-channel 4x4 conv. Width doubles per layer, capped at 8x `width`.
    """

    def __init__(self, in_channels: int = 3, width: int = 64, n_layers: int = 3, norm: Norm = instance_norm) -> None:
        super().__init__()
        require_at_least(1, in_channels=in_channels, width=width, n_layers=n_layers)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1  # the last hidden layer keeps the resolution
            layers += [nn.Conv2d(width * prev, width * mult, 4, stride=stride, padding=1), norm(width * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(width * mult, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)
        self.apply(init_normal)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def receptive_field(n_layers: int) -> int:
    """Side of the input patch one PatchGAN output sees (70 for n_layers=3)."""
    size = 1
    for stride in [1, 1] + [2] * n_layers:  # walk back from the output: two stride-1 convs, then stride 2s
        size = (size - 1) * stride + 4
    return size
