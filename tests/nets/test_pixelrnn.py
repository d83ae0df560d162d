"""PixelRNN (Row LSTM) networks: causal masks, samplers, the pixel distributions."""

from __future__ import annotations

import pytest
import torch

from genlab.nets.pixel_values import BinaryOutput, SoftmaxOutput, from_index, pixel_distribution, to_index
from genlab.nets.pixelrnn import PixelRNN


def raster_order(channels: int, height: int, width: int) -> torch.Tensor:
    """Position of every (c, i, j) in raster-then-channel order, as a C x H x W tensor."""
    c, i, j = torch.meshgrid(torch.arange(channels), torch.arange(height), torch.arange(width), indexing="ij")
    return (i * width + j) * channels + c


@pytest.mark.parametrize("channels", [1, 3])
def test_output_ignores_the_current_and_every_later_value(channels: int) -> None:
    torch.manual_seed(0)
    # Width 4: the 7x7 first conv then sees all of the row above (the Row LSTM's receptive field is a
    # triangle, so on wider images the far right of the row above is legitimately out of reach).
    height, width = 5, 4
    # hidden=12 gives each colour group 8 maps into the output ReLU: with only a few, all of them
    # can be negative at init and hide a dependence the masks allow.
    net = PixelRNN(channels=channels, levels=4, hidden=12, layers=2).double()
    x = torch.rand(1, channels, height, width, dtype=torch.float64) * 2 - 1

    # d logits[c, k, i, j] / d x[c', i', j'], summed over the k logits: C x H x W x C x H x W.
    jacobian = torch.autograd.functional.jacobian(lambda x: net(x)[0], x)[:, :, :, :, 0]
    dependence = jacobian.abs().sum(1)
    order = raster_order(channels, height, width)
    later_or_same = order.view(-1, 1) <= order.view(1, -1)  # output position x input position

    assert torch.all(dependence.reshape(order.numel(), order.numel())[later_or_same] == 0)
    # Not vacuous: every output but the first depends on the value right before it.
    flat = dependence.reshape(order.numel(), order.numel())
    by_order = flat[order.flatten().argsort()][:, order.flatten().argsort()]
    assert torch.all(by_order.diagonal(offset=-1) > 0)


@pytest.mark.parametrize(("channels", "levels"), [(1, 2), (3, 17)])
def test_cached_sampler_draws_the_same_images_as_the_naive_one(channels: int, levels: int) -> None:
    torch.manual_seed(0)
    net = PixelRNN(channels=channels, levels=levels, hidden=6, layers=2).double().eval()
    u = torch.rand(3, channels, 6, 5, dtype=torch.float64)

    cached, naive = net.sample(u), net.sample_naive(u)

    assert torch.equal(cached, naive)
    assert torch.equal(from_index(to_index(cached, levels), levels).double(), cached)  # values on the grid
    assert len(cached.unique()) > 1


def test_sampling_follows_the_modelled_distribution() -> None:
    # A net whose logits ignore the input (all weights zero, output bias set) samples its softmax.
    torch.manual_seed(0)
    net = PixelRNN(channels=1, levels=3, hidden=2, layers=1).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.head[-1].bias.copy_(torch.log(torch.tensor([0.2, 0.5, 0.3])))
    images = net.sample(torch.rand(2000, 1, 2, 2))
    freq = torch.bincount(to_index(images, 3).flatten(), minlength=3).float() / images.numel()
    assert torch.allclose(freq, torch.tensor([0.2, 0.5, 0.3]), atol=0.03)


def test_log_prob_is_the_sum_of_per_value_log_probabilities() -> None:
    torch.manual_seed(0)
    net = PixelRNN(channels=3, levels=5, hidden=3, layers=1)
    x = from_index(torch.randint(0, 5, (2, 3, 4, 4)), 5)
    logits = net(x)  # N x C x K x H x W
    expected = torch.log_softmax(logits, 2).gather(2, to_index(x, 5).unsqueeze(2)).flatten(1).sum(1)
    assert torch.allclose(net.log_prob(x), expected, atol=1e-5)


def test_binary_data_gets_a_bernoulli_and_more_levels_a_softmax() -> None:
    assert isinstance(pixel_distribution(2), BinaryOutput)
    assert isinstance(pixel_distribution(17), SoftmaxOutput)
    assert PixelRNN(channels=1, levels=2, hidden=4, layers=1)(torch.zeros(1, 1, 3, 3)).shape == (1, 1, 1, 3, 3)
    assert PixelRNN(channels=3, levels=17, hidden=4, layers=1)(torch.zeros(1, 3, 3, 3)).shape == (1, 3, 17, 3, 3)


def test_levels_map_to_and_from_images_in_minus_one_one() -> None:
    # scikit-learn digits at 8x8 hold round(k * 255 / 16), k = 0..16: 17 levels.
    uint8 = torch.round(torch.arange(17) * 255 / 16)
    index = to_index(uint8 / 127.5 - 1, 17)
    assert torch.equal(index, torch.arange(17))
    assert torch.allclose(from_index(index, 17), torch.linspace(-1, 1, 17))
