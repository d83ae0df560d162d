"""Spectral normalisation as a net option: every normalised weight ends with largest singular value 1."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from genlab.nets import dcgan, resnet


def normalised_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if parametrize.is_parametrized(m, "weight")]


def sigma(layer: nn.Module) -> float:
    """Largest singular value of the weight as spectral norm reshapes it (transposed convs: dim 1 first)."""
    w = layer.weight.detach()
    if isinstance(layer, nn.ConvTranspose2d):
        w = w.transpose(0, 1)
    return torch.linalg.matrix_norm(w.flatten(1), ord=2).item()


NETS = {
    "dcgan_d": lambda: dcgan.Discriminator(16, 1, 8, num_classes=10, spectral_norm=True),
    "dcgan_g": lambda: dcgan.Generator(8, 16, 1, 8, num_classes=10, spectral_norm=True),
    "resnet_d": lambda: resnet.Discriminator(32, 3, 8, num_classes=10, spectral_norm=True),
    "resnet_g": lambda: resnet.Generator(8, 32, 3, 8, num_classes=10, spectral_norm=True),
}


@pytest.mark.parametrize("name", list(NETS))
def test_every_weight_has_largest_singular_value_one_after_a_few_power_iterations(name):
    torch.manual_seed(0)
    net = NETS[name]()
    layers = normalised_layers(net)
    # Parametrised modules get a subclass of their own type (ParametrizedConv2d, ...).
    kinds = {next(k for k in (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding) if isinstance(m, k)) for m in layers}
    assert len(layers) >= 3
    # D normalises its projection embedding; G has none (DCGAN: one-hot labels) or keeps them plain (ResNet).
    assert (nn.Embedding in kinds) == name.endswith("_d")
    raw = [torch.linalg.matrix_norm(m.parametrizations.weight.original.detach().flatten(1), ord=2).item() for m in layers]
    assert max(abs(s - 1) for s in raw) > 0.1  # the unnormalised weights are not already there
    labels = torch.arange(4) % 10
    for _ in range(30):  # each training-mode forward runs one power iteration per layer (plus 15 at creation)
        net(torch.randn(4, 3, 32, 32) if name == "resnet_d" else torch.randn(4, 1, 16, 16) if name == "dcgan_d" else torch.randn(4, 8), labels)
    assert all(abs(sigma(m) - 1) < 0.02 for m in layers), [round(sigma(m), 3) for m in layers]


def test_spectral_norm_is_off_by_default_in_dcgan_nets_and_on_in_the_resnet_discriminator():
    assert not normalised_layers(dcgan.Discriminator(16, 1, 8)) and not normalised_layers(dcgan.Generator(8, 16, 1, 8))
    assert normalised_layers(resnet.Discriminator(16, 1, 8)) and not normalised_layers(resnet.Generator(8, 16, 1, 8))


def test_a_normalised_net_reloads_from_its_state_dict_with_the_same_outputs():
    torch.manual_seed(0)
    net, copy = dcgan.Discriminator(16, 1, 8, spectral_norm=True), dcgan.Discriminator(16, 1, 8, spectral_norm=True)
    x = torch.randn(4, 1, 16, 16)
    net(x)  # moves the power-iteration vectors
    copy.load_state_dict(net.state_dict())
    net.eval(), copy.eval()
    torch.testing.assert_close(copy(x), net(x))
