"""CycleGAN nets: the paper's ResNet generator and 70x70 PatchGAN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.nets.cyclegan import PatchDiscriminator, ResnetGenerator, receptive_field

pytestmark = pytest.mark.usefixtures("one_thread")


def test_paper_generator_has_the_official_size_and_keeps_the_image_size():
    g = ResnetGenerator(in_channels=3, out_channels=3, width=64, n_blocks=9)
    # 11,378,179 parameters: the official resnet_9blocks generator.
    assert sum(p.numel() for p in g.parameters()) == 11_378_179
    small = ResnetGenerator(in_channels=1, out_channels=1, width=8, n_blocks=2)
    y = small(torch.randn(2, 1, 32, 40))
    assert y.shape == (2, 1, 32, 40)
    assert y.abs().max() <= 1.0  # tanh output


def test_generator_uses_reflection_padding_and_instance_norm():
    g = ResnetGenerator(width=8, n_blocks=2)
    kinds = {type(m) for m in g.modules()}
    assert nn.ReflectionPad2d in kinds and nn.InstanceNorm2d in kinds
    assert not any(isinstance(m, nn.Conv2d) and m.padding_mode != "zeros" for m in g.modules())
    assert sum(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in g.modules()) == 2  # two downsamplings
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.modules()) == 2  # two upsamplings


def test_generator_rejects_sizes_it_cannot_restore():
    with pytest.raises(ValueError, match="divisible by 4"):
        ResnetGenerator(width=8, n_blocks=1)(torch.randn(1, 3, 30, 30))


def test_patchgan_sees_70x70_patches():
    assert receptive_field(3) == 70
    # Empirically: the gradient of one output logit touches a 70 x 70 input window (norm-free,
    # since instance norm would couple all positions).
    d = PatchDiscriminator(in_channels=1, width=4, n_layers=3, norm=lambda c: nn.Identity())
    x = torch.randn(1, 1, 160, 160, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[-2] // 2, out.shape[-1] // 2].backward()
    rows, cols = (x.grad[0, 0].abs() > 0).nonzero(as_tuple=True)
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_paper_discriminator_has_the_official_size():
    d = PatchDiscriminator(in_channels=3, width=64, n_layers=3)
    assert sum(p.numel() for p in d.parameters()) == 2_764_737  # the official basic 70x70 PatchGAN
    assert d(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)
