"""Spectral normalisation (Miyato et al. 2018) of a network's weight layers, as a net option."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

#: Layers a discriminator normalises: every weight it multiplies activations by, the projection
#: discriminator's class embedding included (as in SNGAN's and StudioGAN's code).
DISCRIMINATOR_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)
#: A generator's: its convolutions and linear maps, not the label embeddings (BigGAN normalises
#: G's layers but not its class embeddings).
GENERATOR_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def spectral_normalize(module: nn.Module, layers: tuple[type[nn.Module], ...]) -> nn.Module:
    """Give every `layers` submodule of `module` a spectral-norm parametrisation of its weight.

    The weight used in forward is W / sigma(W), sigma estimated by one power iteration per training
    forward (torch's parametrisation; transposed convolutions are reshaped along their output dim).
    Call after weight initialisation: the parametrisation keeps the initial weight as `original`.
    """
    for sub in list(module.modules()):
        if isinstance(sub, layers):
            spectral_norm(sub)
    return module
