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
    assert {n: loss.gradient_penalty for n, loss in ADVERSARIAL_LOSSES.items() if loss.gradient_penalty} == {"wgan_gp": 10.0}
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


# -- one interface: every registered loss reaches both adversarial families -------------------------
@pytest.mark.parametrize("name", list(ADVERSARIAL_LOSSES))
def test_every_registered_loss_builds_a_gan_and_a_cyclegan_without_gradient_penalty(compose_cfg, name):
    from genlab.errors import ConfigError
    from genlab.train import build_model

    assert build_model(compose_cfg(f"model.loss={name}")).loss is ADVERSARIAL_LOSSES[name]
    cyclegan = ("model=cyclegan", "dataset=textures", "model.generator.width=4", "model.generator.n_blocks=1", "model.discriminator.width=4")
    if ADVERSARIAL_LOSSES[name].gradient_penalty:  # CycleGAN has no gradient penalty: refused, naming the usable ones
        with pytest.raises(ConfigError, match=rf"^model.gan_loss={name}: CycleGAN takes one of non_saturating, "):
            build_model(compose_cfg(*cyclegan, f"model.gan_loss={name}"))
        return
    model = build_model(compose_cfg(*cyclegan, f"model.gan_loss={name}"))
    assert model.gan_loss is ADVERSARIAL_LOSSES[name]
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    losses, _ = model.generator_losses(x, x.flip(-1))
    assert all(torch.isfinite(v) for v in losses.values())
    assert torch.isfinite(model.discriminator_loss(model.D_A, x, x.flip(-1)))


def test_cyclegan_losses_are_the_official_target_based_ones():
    """CycleGAN halves D's loss itself; LSGAN is the mean squared error to 1 (real) / 0 (fake), BCE on logits for non_saturating."""
    import torch.nn.functional as F

    real, fake = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    mse = ADVERSARIAL_LOSSES["lsgan"]
    assert torch.equal(mse.generator(fake), F.mse_loss(fake, torch.ones_like(fake)))
    assert torch.equal(
        0.5 * mse.discriminator(real, fake), 0.5 * (F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake)))
    )
    bce, ones, zeros = ADVERSARIAL_LOSSES["non_saturating"], torch.ones_like(fake), torch.zeros_like(fake)
    assert torch.allclose(bce.generator(fake), F.binary_cross_entropy_with_logits(fake, ones))
    official = 0.5 * (F.binary_cross_entropy_with_logits(real, ones) + F.binary_cross_entropy_with_logits(fake, zeros))
    assert torch.allclose(0.5 * bce.discriminator(real, fake), official)
