"""The GAN encoder's training step (`model/encoder=dcgan`): E learns to invert the generator that
genlab samples from, by ||E(G(z)) - z||^2 on fresh draws (the latent regression loss of BiGAN-style
"reverse generators"; no joint discriminator on (x, z))."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from genlab.models.base import evaluating


def sampling_net(model: Any) -> torch.nn.Module:
    """The generator that sampling, completion and reconstruction use: the EMA copy when it is on
    (else G itself, unwrapped from its DDP wrapper: this forward needs no gradient synchronisation)."""
    net = model.generator_ema.module if model.generator_ema is not None else model.generator
    return net.module if isinstance(net, DistributedDataParallel) else net


def encoder_step(model: Any, optimizer: Any, n: int, labels: Tensor | None) -> Tensor:
    """One optimizer step of E on n fresh codes; returns the loss (mean squared error per latent dimension).

    The images come from the sampling generator in eval mode without gradients, so this step changes
    no G/D weights or BatchNorm statistics (only E's, and the RNG stream: resume restores it). Under
    DDP every rank draws its own slice of the global batch's noise and E's gradients are averaged
    (E is one of the model's `ddp_modules`).
    """
    net = sampling_net(model)
    z = model.noise(n)
    with torch.no_grad(), evaluating(net):
        images = net(z, labels)
    with model.toggled_optimizer(optimizer):
        loss = ((model.encoder(images) - z) ** 2).mean()
        model.zero_grad_backward_step(optimizer, loss)
    return loss.detach()
