"""task=complete: fill the missing pixels of partial images; visible pixels come back unchanged.

Per family (`COMPLETERS`, by model class): PixelRNN draws the missing pixels in raster order given
everything before them (`RNN.complete`: exact for bottom rows); the VAE iterates encode/decode with
the visible pixels clamped (`VAE.complete`); a GAN searches its latent space for the sample closest
to the visible pixels (`gan_complete`, here: the GAN module itself is not changed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from genlab.errors import ConfigError
from genlab.models.base import evaluating


def latent_search(
    model: Any,
    x: Tensor,
    known: Tensor,
    generator: torch.Generator,
    iterations: int = 100,
    restarts: int = 8,
    labels: Tensor | None = None,
    use_encoder: bool = True,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Optimise z (and, for a conditional GAN without given `labels`, pick the label) so that G(z)
    matches x on the `known` pixels; returns (the best fits G(z), their z, their labels or None).

    `restarts` latent draws per image (a conditional GAN without labels tries every class at least
    once), each refined by `iterations` Adam steps on the squared error over known pixels.
    Uses the EMA generator (what `GAN.sample` draws from), in eval mode, with its weights frozen.
    With `use_encoder`, a GAN trained with an encoder (`model/encoder=dcgan`) starts the first restart
    (for a conditional GAN: the first one of every class) from E(x with the unknown pixels at 0)
    instead of a random draw.
    """
    net = model.generator_ema.module if model.generator_ema is not None else model.generator
    k = int(model.num_classes) if labels is None else 0
    restarts = max(restarts, k)
    n, device = len(x), model.device
    x, known = x.to(device), known.to(device).to(x.dtype)
    target, weight = x.repeat(restarts, 1, 1, 1), known.repeat(restarts, 1, 1, 1)
    if labels is not None:
        tried = labels.to(device).repeat(restarts)
    else:
        tried = (torch.arange(restarts, device=device) % k).repeat_interleave(n) if k else None
    z = torch.randn(restarts * n, net.latent_dim, generator=generator).to(device)
    if use_encoder and getattr(model, "encoder", None) is not None:
        from genlab.tasks.reconstruct import encode

        z.view(restarts, n, -1)[: max(k, 1)] = encode(model, torch.where(known.bool(), x, torch.zeros_like(x)))
    z.requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=0.05)
    with evaluating(net), torch.enable_grad():
        net.requires_grad_(False)
        for _ in range(iterations):
            error = ((net(z, tried) - target) ** 2 * weight).flatten(1).sum(1)
            optimizer.zero_grad(set_to_none=True)
            error.sum().backward()
            optimizer.step()
    with torch.no_grad(), evaluating(net):
        fits = net(z, tried)
        error = ((fits - target) ** 2 * weight).flatten(1).sum(1).view(restarts, n)
        best, rows = error.argmin(0), torch.arange(n, device=device)
        pick = best * n + rows
    return fits[pick], z.detach()[pick], None if tried is None else tried[pick]


def gan_complete(
    model: Any,
    x: Tensor,
    known: Tensor,
    generator: torch.Generator,
    iterations: int = 100,
    restarts: int = 8,
    labels: Tensor | None = None,
    encoder_start: bool = False,
) -> Tensor:
    """The missing pixels from the GAN sample closest to the visible ones (`latent_search`); a
    conditional GAN given each image's `labels` searches that class only, else every class.
    `encoder_start`: the first restart starts from the encoder's code (off by default: measured on
    digits, it lowered how often completions keep the digit's class; benchmarks/README.md)."""
    labels = labels if model.num_classes else None
    fits, _, _ = latent_search(model, x, known, generator, iterations, restarts, labels=labels, use_encoder=encoder_start)
    return torch.where(known.to(fits.device).bool(), x.to(fits.device), fits)


def rnn_complete(model: Any, x: Tensor, known: Tensor, generator: torch.Generator, iterations: int = 100, labels: Tensor | None = None) -> Tensor:
    return model.complete(x, known, generator, labels=labels if model.num_classes else None)


def vae_complete(model: Any, x: Tensor, known: Tensor, generator: torch.Generator, iterations: int = 100, labels: Tensor | None = None) -> Tensor:
    return model.complete(x, known, generator, iterations=iterations)


def cvae_complete(model: Any, x: Tensor, known: Tensor, generator: torch.Generator, iterations: int = 100, labels: Tensor | None = None) -> Tensor:
    """The VAE's clamped chain with every encode and decode conditioned on the image's known class."""
    with given_labels(model, labels, "task=complete"):
        return model.complete(x, known, generator, iterations=iterations)


@contextlib.contextmanager
def given_labels(model: Any, labels: Tensor | None, what: str) -> Iterator[None]:
    """The conditional VAE reads the labels of the images it encodes/decodes from `batch_labels`."""
    if labels is None:
        raise ConfigError(
            f"{what}: the conditional VAE needs each image's class: use the test split (its labels are known) or give labels=[...] / label=K"
        )
    model.batch_labels = labels.to(model.device)
    try:
        yield
    finally:
        model.batch_labels = None


#: Model class name -> its completion (conditional families use the images' labels when given).
COMPLETERS: dict[str, Callable[..., Tensor]] = {"RNN": rnn_complete, "ConditionalVAE": cvae_complete, "VAE": vae_complete, "GAN": gan_complete}


def mean_fill(x: Tensor, known: Tensor, mean_image: Tensor) -> Tensor:
    """Baseline: the missing pixels from the mean training image."""
    return torch.where(known, x, mean_image.expand_as(x))


def noise_fill(x: Tensor, known: Tensor, generator: torch.Generator) -> Tensor:
    """Baseline: the missing pixels uniform in [-1, 1]."""
    return torch.where(known, x, torch.rand(x.shape, generator=generator) * 2 - 1)
