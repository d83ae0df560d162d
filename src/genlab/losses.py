"""Adversarial losses on discriminator logits, the WGAN-GP gradient penalty and the zero-centred R1/R2 penalties.

Each loss is a small class with `discriminator(real_logits, fake_logits)` and `generator(fake_logits)`;
`ADVERSARIAL_LOSSES` maps the names users type (`model.loss=hinge`) to instances.
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
    """LSGAN (Mao et al. 2017) with targets 1 (real) and 0 (fake); each term halved as in the paper."""

    def discriminator(self, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()

    def generator(self, fake: Tensor) -> Tensor:
        return 0.5 * ((fake - 1) ** 2).mean()


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


# -- target-based GAN criteria (pix2pix/CycleGAN style) ---------------------------------------------
class GANCriterion:
    """`criterion(prediction, target_is_real)`: a per-player loss against a constant target (the
    official CycleGAN `GANLoss`). Patch discriminators' maps are averaged over all patches."""

    def __call__(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        raise NotImplementedError


class LeastSquaresCriterion(GANCriterion):
    """LSGAN: mean squared error to 1 (real) or 0 (fake); CycleGAN's default."""

    def __call__(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        return F.mse_loss(prediction, torch.full_like(prediction, float(target_is_real)))


class BCECriterion(GANCriterion):
    """The vanilla GAN loss: binary cross-entropy on logits (non-saturating for the generator)."""

    def __call__(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        return F.binary_cross_entropy_with_logits(prediction, torch.full_like(prediction, float(target_is_real)))
