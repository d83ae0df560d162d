"""DCGAN nets adapt to image size and channel count."""

from __future__ import annotations

import pytest
import torch

from genlab.nets.dcgan import Discriminator, Generator, MinibatchStd


@pytest.mark.parametrize("size", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_fit_every_supported_size(size, channels):
    g = Generator(latent_dim=8, image_size=size, channels=channels, width=8)
    d = Discriminator(image_size=size, channels=channels, width=8)
    images = g(torch.randn(4, 8))
    assert images.shape == (4, channels, size, size)
    assert images.abs().max() <= 1.0
    assert d(images).shape == (4,)


@pytest.mark.parametrize("size", [4, 12, 48, 128])
def test_unsupported_sizes_are_rejected_with_the_accepted_ones(size):
    with pytest.raises(ValueError, match="8, 16, 32, 64 or 28"):
        Generator(image_size=size)


def test_conditional_nets_use_the_label():
    torch.manual_seed(0)
    g = Generator(latent_dim=8, image_size=16, width=8, num_classes=10).eval()
    d = Discriminator(image_size=16, width=8, num_classes=10).eval()
    z = torch.randn(2, 8).repeat(2, 1)
    labels = torch.tensor([0, 0, 1, 1])
    images = g(z, labels)
    assert not torch.allclose(images[:2], images[2:])
    assert not torch.allclose(d(images[:2], labels[:2]), d(images[:2], labels[2:]))


def test_norm_free_discriminator_has_no_batch_statistics():
    d = Discriminator(image_size=32, width=8, norm=None)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())


def test_projection_class_term_starts_at_the_scale_of_the_image_term():
    # An N(0, 1) embedding over the 64 x 7 x 7 features made the class term ~50x the image term at
    # start; D then judged the label, not the image, and the cGAN drew one image per class.
    torch.manual_seed(0)
    d = Discriminator(image_size=28, width=32, num_classes=10)
    with torch.no_grad():
        h = d.features(torch.rand(64, 1, 28, 28) * 2 - 1)
        image_term = d.head(h).flatten()
        class_term = torch.stack([(d.embed(torch.full((64,), k)) * h.flatten(1)).sum(1) for k in range(10)])
    assert class_term.std() < 3 * image_term.std()


def test_minibatch_std_shows_the_discriminator_a_batch_of_copies():
    torch.manual_seed(0)
    varied = torch.randn(8, 16, 7, 7)
    copies = varied[:1].expand(8, 16, 7, 7)
    spread = MinibatchStd(4)
    assert torch.allclose(spread(varied)[:, :16], varied)  # the features pass through unchanged
    assert spread(copies)[:, 16].max() < 1e-3 < 0.5 < spread(varied)[:, 16].min()
    # Groups are images m, m + n/g, ...: copies in one group read zero even when the groups differ.
    two_kinds = torch.cat([varied[:1].expand(4, 16, 7, 7), varied[1:2].expand(4, 16, 7, 7)])
    assert spread(two_kinds)[:, 16].max() > 0.5
    assert MinibatchStd(4)(varied[:6]).shape == (6, 17, 7, 7)  # 6 images: groups of 3


def test_discriminator_with_minibatch_std_takes_a_gradient_penalty():
    d = Discriminator(image_size=28, width=8, num_classes=10, minibatch_std=4)
    x = torch.randn(8, 1, 28, 28, requires_grad=True)
    (grad,) = torch.autograd.grad(d(x, torch.arange(8) % 10).sum(), x, create_graph=True)
    grad.square().sum().backward()  # R1's double backward runs through the group statistics
    assert d.head.weight.grad is not None and d.head.weight.shape[1] == 8 * 2 + 1
