"""task=reconstruct: map real images to latent codes and regenerate them.

GAN: z = E(x) by the encoder trained beside G and D (`model/encoder=dcgan`, genlab.models.gan_encoder),
then G(z) with the generator genlab samples from (the EMA copy when it is on). A conditional GAN
uses the images' labels when they are known (the test split's), else the class whose G(E(x), y) is
closest to x. VAE: the decoder's mean at the posterior mean. The measurements behind the benchmark:
`latent_recovery` (E(G(z)) against z) and `reconstruction_error` (G(E(x)) against x, beside the
nearest of many samples).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from genlab.errors import ConfigError
from genlab.models.base import evaluating
from genlab.models.gan_encoder import sampling_net
from genlab.tasks.complete import given_labels, latent_search


def encoder_of(model: Any) -> torch.nn.Module:
    """The GAN's encoder, or one sentence saying how to get one."""
    if getattr(model, "encoder", None) is None:
        raise ConfigError(
            "task=reconstruct: this GAN was trained without an encoder; retrain it with model/encoder=dcgan "
            "(or fill images by latent search with task=complete)"
        )
    return model.encoder


@torch.no_grad()
def encode(model: Any, x: Tensor) -> Tensor:
    """E(x) for [-1, 1] images, in eval mode, on the model's device."""
    encoder = encoder_of(model)
    with evaluating(encoder):
        return torch.cat([encoder(chunk.to(model.device)) for chunk in x.split(500)])


def gan_reconstruct(model: Any, x: Tensor, labels: Tensor | None, generator: torch.Generator | None = None, iterations: int = 0) -> dict[str, Tensor]:
    """G(E(x)); with `iterations` > 0, E(x) is then refined by that many Adam steps on the pixel error
    (`latent_search` from the encoder's code: the hybrid inversion of Zhu et al. 2016)."""
    encoder_of(model)
    if iterations > 0:
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        fits, z, chosen = latent_search(model, x, torch.ones_like(x, dtype=torch.bool), generator, iterations, restarts=1, labels=labels)
        return {"images": fits.cpu(), "latents": z.cpu(), **({} if chosen is None else {"labels": chosen.cpu()})}
    with torch.no_grad():
        z = encode(model, x)
        net, k = sampling_net(model), int(model.num_classes)
        with evaluating(net):
            if not k:
                return {"images": net(z, None).cpu(), "latents": z.cpu()}
            if labels is None:  # unknown classes: the best-fitting one per image
                fits = torch.stack([net(z, torch.full((len(z),), c, device=model.device)) for c in range(k)])
                error = ((fits - x.to(fits)[None]) ** 2).flatten(2).mean(2)
                labels = error.argmin(0)
                return {"images": fits[labels, torch.arange(len(z))].cpu(), "latents": z.cpu(), "labels": labels.cpu()}
            return {"images": net(z, labels.to(model.device)).cpu(), "latents": z.cpu(), "labels": labels.cpu()}


@torch.no_grad()
def vae_reconstruct(model: Any, x: Tensor, labels: Tensor | None, generator: torch.Generator | None = None, iterations: int = 0) -> dict[str, Tensor]:
    """The decoder's mean at the posterior mean (`iterations` is a GAN option: not used)."""
    with evaluating(model):
        mu, _ = model.encode(x.to(model.device))
        return {"images": model.likelihood.mean(model.decode(mu)).cpu(), "latents": mu.cpu()}


def cvae_reconstruct(
    model: Any, x: Tensor, labels: Tensor | None, generator: torch.Generator | None = None, iterations: int = 0
) -> dict[str, Tensor]:
    """As the VAE's, with the encoder and decoder given each image's known class."""
    with given_labels(model, labels, "task=reconstruct"):
        return {**vae_reconstruct(model, x, labels), "labels": labels.cpu()}


#: Model class name -> its reconstruction.
RECONSTRUCTORS: dict[str, Callable[..., dict[str, Tensor]]] = {"GAN": gan_reconstruct, "ConditionalVAE": cvae_reconstruct, "VAE": vae_reconstruct}


@torch.no_grad()
def latent_recovery(model: Any, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean squared error per latent dimension of E(G(z)) against z on n fresh draws, beside the
    baseline of an independent random code z' ~ N(0, I) (expected error 2) and of z' = 0 (expected 1)."""
    net, generator = sampling_net(model), torch.Generator().manual_seed(seed)
    z = torch.randn(n, net.latent_dim, generator=generator)
    labels = torch.arange(n) % model.num_classes if model.num_classes else None
    with evaluating(net):
        images = torch.cat(
            [
                net(part.to(model.device), None if labels is None else labels[i : i + 500].to(model.device))
                for i, part in zip(range(0, n, 500), z.split(500))
            ]
        )
    recovered = encode(model, images).cpu()
    other = torch.randn(n, net.latent_dim, generator=generator)
    return {"encoder": float(((recovered - z) ** 2).mean()), "random_z": float(((other - z) ** 2).mean()), "zero_z": float((z**2).mean())}


def reconstruction_error(model: Any, x: Tensor, num_samples: int = 10_000, iterations: int = 100, seed: int = 0) -> dict[str, float]:
    """Mean squared pixel error (images in [-1, 1]) against held-out real images x of: G(E(x))
    ("encoder"), G(E(x)) refined by `iterations` latent steps ("encoder_refined"), the same steps from
    a random z ("random_refined"), and the baseline: the nearest of `num_samples` samples of the model."""
    x = x.cpu()

    def error(images: Tensor) -> float:
        return float(((images - x) ** 2).flatten(1).mean(1).mean())

    generator = torch.Generator().manual_seed(seed)
    out = {"encoder": error(gan_reconstruct(model, x, None)["images"])}
    out["encoder_refined"] = error(gan_reconstruct(model, x, None, generator, iterations)["images"])
    everything = torch.ones_like(x, dtype=torch.bool)
    out["random_refined"] = error(latent_search(model, x, everything, generator, iterations, restarts=1, use_encoder=False)[0].cpu())
    with torch.no_grad():
        samples = torch.cat(
            [model.sample(min(500, num_samples - i), generator=torch.Generator().manual_seed(seed + i)).cpu() for i in range(0, num_samples, 500)]
        )
    nearest = torch.cdist(x.flatten(1), samples.flatten(1)).pow(2).min(1).values / x[0].numel()
    return {**out, "nearest_sample": float(nearest.mean()), "num_samples": num_samples, "iterations": iterations}
