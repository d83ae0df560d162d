"""What a pixel model outputs per pixel and channel: a distribution over `levels` values.

Binary data (levels = 2) gets one logit and a Bernoulli, as in the PixelRNN paper; more levels a
softmax over `levels` logits. Images in [-1, 1] map to level indices 0 .. levels - 1 and back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class BinaryOutput:
    """Binary pixels: one logit per channel, p(x = 1) = sigmoid(logit)."""

    levels = 2
    logits_per_channel = 1

    def log_prob(self, index: Tensor, logits: Tensor) -> Tensor:
        """index: N x C x H x W in {0, 1}; logits: N x C x 1 x H x W -> log p per image (N)."""
        return -F.binary_cross_entropy_with_logits(logits[:, :, 0], index.to(logits.dtype), reduction="none").flatten(1).sum(1)

    def sample(self, logits: Tensor, u: Tensor) -> Tensor:
        """logits: ... x 1, u: ... uniforms in [0, 1) -> level indices (inverse CDF, so draws are reproducible)."""
        return (u < torch.sigmoid(logits[..., 0])).long()


class SoftmaxOutput:
    """`levels` values per channel: a softmax over levels logits (256 for 8-bit images)."""

    def __init__(self, levels: int) -> None:
        self.levels = self.logits_per_channel = levels

    def log_prob(self, index: Tensor, logits: Tensor) -> Tensor:
        # cross_entropy wants the class dimension second: N x K x C x H x W.
        return -F.cross_entropy(logits.transpose(1, 2), index, reduction="none").flatten(1).sum(1)

    def sample(self, logits: Tensor, u: Tensor) -> Tensor:
        cdf = torch.softmax(logits, dim=-1).cumsum(-1)
        return (cdf < u.unsqueeze(-1)).sum(-1).clamp(max=self.levels - 1)


def pixel_distribution(levels: int) -> BinaryOutput | SoftmaxOutput:
    """Bernoulli for binary data (levels = 2, a sigmoid as in the paper), else a levels-way softmax."""
    if levels < 2:
        raise ValueError(f"levels={levels}: need at least 2")
    return BinaryOutput() if levels == 2 else SoftmaxOutput(levels)


def to_index(x: Tensor, levels: int) -> Tensor:
    """Images in [-1, 1] -> level indices 0 .. levels - 1."""
    return torch.round((x + 1) / 2 * (levels - 1)).long().clamp(0, levels - 1)


def from_index(index: Tensor, levels: int) -> Tensor:
    """Level indices -> images in [-1, 1]."""
    return index.float() / (levels - 1) * 2 - 1
