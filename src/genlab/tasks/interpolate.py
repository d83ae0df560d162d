"""task=interpolate: one row per pair of endpoints, `steps` images from one end to the other.

GAN: spherical interpolation (slerp) between two latent draws z ~ N(0, I): in high dimensions the
draws lie near the sphere of radius sqrt(d), and a straight line between them cuts through the
low-density interior (its midpoint has norm about sqrt(d / 2)); slerp stays at typical norms.
VAE: straight lines between the posterior means of two given real images (consecutive input pairs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from genlab.errors import ConfigError
from genlab.models.base import evaluating
from genlab.tasks.complete import given_labels


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of a and b (N x d) at fractions t (T): N x T x d."""
    a_n, b_n = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]
    t = t[None, :, None]
    return (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / torch.sin(omega)


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Straight-line interpolation: N x T x d."""
    t = t[None, :, None]
    return (1 - t) * a[:, None] + t * b[:, None]


@torch.no_grad()
def gan_interpolate(
    model: Any, pairs: int, steps: int, generator: torch.Generator, images: Callable[[int], Tensor], labels: Tensor | None
) -> dict[str, Tensor]:
    """`pairs` rows of G(slerp(z_a, z_b, t)); a conditional GAN keeps one label per row (`labels`, else 0..K-1 cycling)."""
    net = model.generator_ema.module if model.generator_ema is not None else model.generator
    z_a, z_b = (torch.randn(pairs, net.latent_dim, generator=generator) for _ in range(2))
    z = slerp(z_a, z_b, torch.linspace(0, 1, steps)).flatten(0, 1).to(model.device)
    k = int(model.num_classes)
    row_labels = (labels if labels is not None else torch.arange(pairs) % max(k, 1))[:pairs] if k else None
    with evaluating(net):
        out = net(z, row_labels.repeat_interleave(steps).to(model.device) if row_labels is not None else None)
    return {"images": out.cpu(), "latents": z.cpu()}


@torch.no_grad()
def vae_interpolate(
    model: Any, pairs: int, steps: int, generator: torch.Generator, images: Callable[[int], Any], labels: Tensor | None
) -> dict[str, Tensor]:
    """`pairs` rows decoding lerp(mu(x_a), mu(x_b), t) for consecutive input images (x_0, x_1), (x_2, x_3), ..."""
    x, _ = endpoints(images, pairs)
    x = x.to(model.device)
    with evaluating(model):
        mu, _ = model.encode(x)
        z = lerp(mu[0::2], mu[1::2], torch.linspace(0, 1, steps).to(mu)).flatten(0, 1)
        out = model.likelihood.mean(model.decode(z))
    return {"images": out.cpu(), "latents": z.cpu(), "endpoints": x.cpu()}


@torch.no_grad()
def cvae_interpolate(
    model: Any, pairs: int, steps: int, generator: torch.Generator, images: Callable[[int], Any], labels: Tensor | None
) -> dict[str, Tensor]:
    """As the VAE's; each endpoint is encoded with its own class (the test split's labels) and each row
    decoded with one class: `label=K` (or `labels=[...]`, one per row) when given, else its first image's."""
    x, known = endpoints(images, pairs)
    x = x.to(model.device)
    with given_labels(model, known, "task=interpolate"), evaluating(model):
        mu, _ = model.encode(x)
    rows = labels[:pairs] if labels is not None else known[0::2]
    if len(rows) < pairs:
        raise ConfigError(f"labels: one label per row is needed, {pairs} rows, got {len(rows)}")
    z = lerp(mu[0::2], mu[1::2], torch.linspace(0, 1, steps).to(mu)).flatten(0, 1)
    with given_labels(model, rows.repeat_interleave(steps), "task=interpolate"), evaluating(model):
        out = model.likelihood.mean(model.decode(z))
    return {"images": out.cpu(), "latents": z.cpu(), "endpoints": x.cpu(), "labels": rows.cpu()}


def endpoints(images: Callable[[int], Any], pairs: int) -> tuple[Tensor, Tensor | None]:
    """The 2 * pairs input images (and their labels, None when unknown) that rows start and end at."""
    x, labels = images(2 * pairs)
    if len(x) < 2 * pairs:
        raise ConfigError(f"task=interpolate: num_samples={pairs} pairs need {2 * pairs} input images, got {len(x)}")
    return x, labels


#: Model class name -> its interpolation.
INTERPOLATORS: dict[str, Callable[..., dict[str, Tensor]]] = {"GAN": gan_interpolate, "ConditionalVAE": cvae_interpolate, "VAE": vae_interpolate}
