"""Pixel likelihoods p(x | params) for images in [-1, 1]; log-probabilities are in nats per image.

- Bernoulli: binarized data (pixels in {-1, 1}); params are one logit per pixel.
- DiscretizedLogistic: 8-bit data (256 levels mapped to [-1, 1]); params are a mean and a log-scale
  per pixel, and each level gets the logistic mass of its bin (Salimans et al. 2017, one component),
  so the log-likelihood is a proper discrete one and bits/dim are comparable with other 8-bit models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class Likelihood:
    """Base class. `params_per_channel` tells the decoder how many output maps to produce."""

    params_per_channel: int = 1

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x | params) summed over pixels: shape N."""
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        """E[x | params] in [-1, 1] (what grids show)."""
        raise NotImplementedError


class Bernoulli(Likelihood):
    params_per_channel = 1

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        target = (x > 0).to(params.dtype)
        return -F.binary_cross_entropy_with_logits(params, target, reduction="none").flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params) * 2 - 1


class DiscretizedLogistic(Likelihood):
    params_per_channel = 2

    def __init__(self, levels: int = 256) -> None:
        self.levels = levels

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        mean, log_scale = params.chunk(2, dim=1)
        log_scale = log_scale.clamp(min=-7.0)
        half_bin = 1.0 / (self.levels - 1)
        inv_scale = torch.exp(-log_scale)
        centered = x - mean
        cdf_plus = torch.sigmoid(inv_scale * (centered + half_bin))
        cdf_minus = torch.sigmoid(inv_scale * (centered - half_bin))
        # Edge levels take the whole tail; interior levels their bin's mass (floored for stability).
        log_cdf_plus = F.logsigmoid(inv_scale * (centered + half_bin))
        log_one_minus_cdf_minus = -F.softplus(inv_scale * (centered - half_bin))
        mass = cdf_plus - cdf_minus
        # Where the bin's mass underflows, use density x bin width (as PixelCNN++ does).
        mid = inv_scale * centered
        log_density_mass = mid - log_scale - 2 * F.softplus(mid) + torch.log(torch.tensor(2 * half_bin))
        log_mass = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_density_mass)
        log_p = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, log_mass))
        return log_p.flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return params.chunk(2, dim=1)[0].clamp(-1, 1)
