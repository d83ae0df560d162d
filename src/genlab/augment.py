"""DiffAugment (Zhao et al. 2020): differentiable augmentations of every image the discriminator sees.

The same policy augments real and generated images, in the discriminator's and in the generator's
step, so D never sees un-augmented data (what makes it work on small datasets) and G's gradient
flows back through the augmentation. Policies as in the paper: `color` (brightness, saturation,
contrast), `translation` (up to 1/8 of the image, zero fill), `cutout` (a square of half the image
side set to zero). Parameters are drawn per image from torch's global RNG. Images are [-1, 1], so
zero fill is mid-grey, as in the official code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError


def _uniform(x: Tensor) -> Tensor:
    """One U(0, 1) draw per image, shaped to broadcast over C x H x W."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def brightness(x: Tensor) -> Tensor:
    return x + (_uniform(x) - 0.5)


def saturation(x: Tensor) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)  # a no-op on one-channel images
    return (x - mean) * (_uniform(x) * 2) + mean


def contrast(x: Tensor) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to `ratio` of its side in each direction; pixels shifted in are zero."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1), device=x.device)
    padded = nn.functional.pad(x, (sx, sx, sy, sy))
    rows = torch.arange(h, device=x.device)[None] + sy - dy  # N x H: source row in the padded image
    cols = torch.arange(w, device=x.device)[None] + sx - dx
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indexing moves the indexed dims first: N x H x W x C -> back to NCHW.
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero a square of `ratio` x the side per image, centred anywhere in the image (clipped at edges)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (n, 1), device=x.device) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (n, 1), device=x.device) - cw // 2
    rows, cols = torch.arange(h, device=x.device)[None], torch.arange(w, device=x.device)[None]
    inside_rows = (rows >= top) & (rows < top + ch)  # N x H
    inside_cols = (cols >= left) & (cols < left + cw)  # N x W
    mask = ~(inside_rows[:, :, None] & inside_cols[:, None, :])
    return x * mask[:, None].to(x.dtype)


#: Policy name -> the operations it applies, in order (the paper's families).
POLICIES: dict[str, tuple[Callable[[Tensor], Tensor], ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def parse_policy(policy: str | Sequence[str] | None) -> tuple[str, ...]:
    """`"translation,cutout"`, `["translation", "cutout"]`, `""` or None -> a tuple of policy names."""
    if policy is None:
        return ()
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = [str(name).strip() for name in names if str(name).strip()]
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise ConfigError(
            f"model.diffaugment={','.join(names)}: unknown policy {', '.join(unknown)}; accepted: {', '.join(POLICIES)} (comma-separated or a list; empty: off)"
        )
    return tuple(names)


class DiffAugment(nn.Module):
    """Applies each policy's operations in order; the identity when the policy is empty.

    No parameters or buffers: adding it to a model changes no checkpoint key.
    """

    def __init__(self, policy: str | Sequence[str] | None = "") -> None:
        super().__init__()
        self.policy = parse_policy(policy)

    def forward(self, x: Tensor) -> Tensor:
        for name in self.policy:
            for op in POLICIES[name]:
                x = op(x)
        return x

    def extra_repr(self) -> str:
        return ",".join(self.policy) or "off"
