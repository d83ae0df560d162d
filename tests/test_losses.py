"""Adversarial losses reward the right player, and the gradient penalty measures gradient norms."""

from __future__ import annotations

import pytest
import torch

from genlab.losses import ADVERSARIAL_LOSSES, LossName, gradient_penalty

CONFIDENT = (torch.full((8,), 3.0), torch.full((8,), -3.0))  # D says real is real, fake is fake
FOOLED = (torch.full((8,), -3.0), torch.full((8,), 3.0))


@pytest.mark.parametrize("name", list(ADVERSARIAL_LOSSES))
def test_discriminator_loss_is_lower_when_it_separates_real_from_fake(name):
    loss = ADVERSARIAL_LOSSES[name]
    assert loss.discriminator(*CONFIDENT) < loss.discriminator(*FOOLED)


@pytest.mark.parametrize("name", list(ADVERSARIAL_LOSSES))
def test_generator_loss_is_lower_when_the_discriminator_is_fooled(name):
    loss = ADVERSARIAL_LOSSES[name]
    assert loss.generator(FOOLED[1]) < loss.generator(CONFIDENT[1])


def test_known_values():
    zero = torch.zeros(4)
    assert ADVERSARIAL_LOSSES["non_saturating"].discriminator(zero, zero).item() == pytest.approx(2 * 0.6931, abs=1e-4)
    assert ADVERSARIAL_LOSSES["hinge"].discriminator(zero, zero).item() == pytest.approx(2.0)
    assert ADVERSARIAL_LOSSES["lsgan"].discriminator(torch.ones(4), zero).item() == pytest.approx(0.0)


def test_only_wgan_gp_carries_a_gradient_penalty_of_weight_10():
    assert {n: loss.gradient_penalty for n, loss in ADVERSARIAL_LOSSES.items()} == {
        "non_saturating": 0.0,
        "hinge": 0.0,
        "lsgan": 0.0,
        "wgan_gp": 10.0,
    }
    assert [m.value for m in LossName] == list(ADVERSARIAL_LOSSES)


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic_and_positive_otherwise():
    real, fake = torch.randn(16, 1, 4, 4), torch.randn(16, 1, 4, 4)
    w = torch.randn(16)
    unit = lambda x: x.flatten(1) @ (w / w.norm())  # noqa: E731 - ||grad|| = 1 everywhere
    steep = lambda x: 3 * x.flatten(1) @ (w / w.norm())  # noqa: E731 - ||grad|| = 3
    assert gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(steep, real, fake).item() == pytest.approx(4.0, rel=1e-5)


def test_gradient_penalty_is_differentiable_wrt_critic_parameters():
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))
    gradient_penalty(lambda x: critic(x).flatten(), torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)).backward()
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0
