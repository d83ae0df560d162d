"""Adversarial losses on discriminator logits, the WGAN-GP gradient penalty and the zero-centred R1/R2 penalties.

Each loss is a small class with `discriminator(real_logits, fake_logits)` and `generator(fake_logits)`;
`ADVERSARIAL_LOSSES` maps the names users type to instances. It is the one interface of both
adversarial families: the GAN takes `model.loss=<name>`, CycleGAN `model.gan_loss=<name>` (or the
`model/gan_loss` group), so a loss registered here reaches both.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


class AdversarialLoss:
    """Base: subclasses define both players' losses. `gradient_penalty` is the GP weight (0: none)."""

    gradient_penalty: float = 0.0

    def discriminator(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator(self, fake: Tensor) -> Tensor:
        raise NotImplementedError


class NonSaturating(AdversarialLoss):
    """Goodfellow et al. 2014 with the non-saturating generator loss -log D(G(z))."""

    def discriminator(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def generator(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()


class Hinge(AdversarialLoss):
    """Lim & Ye 2017; the loss of SNGAN and BigGAN."""

    def discriminator(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def generator(self, fake: Tensor) -> Tensor:
        return -fake.mean()


class LeastSquares(AdversarialLoss):
    """LSGAN (Mao et al. 2017) with targets 1 (real) and 0 (fake): the mean squared error to the target.

    Without the paper's 1/2 on each term, as in the official pix2pix/CycleGAN code: CycleGAN weighs
    its generator's adversarial loss against the cycle loss, so the constant there is part of the
    recipe, and CycleGAN then halves D's loss itself for every loss alike. For the GAN the factor
    of 2 this puts on both players' LSGAN losses (and on their logged values) does not change
    training under Adam, which is invariant to the scale of a loss, unless R1/R2 penalties or
    grad_clip are added on top: double r1_gamma/r2_gamma and grad_clip to match an earlier run.
    """

    def discriminator(self, real: Tensor, fake: Tensor) -> Tensor:
        return ((real - 1) ** 2).mean() + (fake**2).mean()

    def generator(self, fake: Tensor) -> Tensor:
        return ((fake - 1) ** 2).mean()


class Wasserstein(AdversarialLoss):
    """WGAN critic loss; with `gradient_penalty > 0` it is WGAN-GP (Gulrajani et al. 2017)."""

    def __init__(self, gradient_penalty: float = 0.0) -> None:
        self.gradient_penalty = gradient_penalty

    def discriminator(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()

    def generator(self, fake: Tensor) -> Tensor:
        return -fake.mean()


ADVERSARIAL_LOSSES: dict[str, AdversarialLoss] = {
    "non_saturating": NonSaturating(),
    "hinge": Hinge(),
    "lsgan": LeastSquares(),
    "wgan_gp": Wasserstein(gradient_penalty=10.0),
}

#: The names `model.loss` accepts; the structured config validates against this enum.
LossName = enum.Enum("LossName", {name: name for name in ADVERSARIAL_LOSSES}, type=str)

# The names CycleGAN's `model/gan_loss` configs (and the checkpoints trained with them) give in `_target_`.
LeastSquaresCriterion = LeastSquares
BCECriterion = NonSaturating  # binary cross-entropy on logits: softplus(-x) for "real", softplus(x) for "fake"


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, scale: float = 1.0) -> Tensor:
    """E[(||grad_x critic(x)||_2 - 1)^2] at random interpolates x of real and fake images.

    `scale`: the AMP loss scale under 16-mixed. The input gradient is taken of the scaled critic
    output (fp16 backward would underflow otherwise) and divided back before the norm, which is
    computed in float32 (also under autocast).
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).float().sum() * scale, mixed, create_graph=True)
    grad = grad.float() / scale
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def zero_centred_penalty(critic: Callable[[Tensor], Tensor], images: Tensor, scale: float = 1.0) -> Tensor:
    """E[||grad_x critic(x)||_2^2] at the given images: R1 on real images, R2 on generated ones
    (Mescheder et al. 2018; StyleGAN2 weighs it by gamma / 2).

    The gradient is taken with respect to the images as passed in, so a critic that augments its
    input (DiffAugment) is penalised through the augmentation, as in StyleGAN2-ADA. `scale`: the AMP
    loss scale, handled as in `gradient_penalty`.
    """
    x = images.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).float().sum() * scale, x, create_graph=True)
    grad = grad.float() / scale
    return grad.flatten(1).pow(2).sum(1).mean()
