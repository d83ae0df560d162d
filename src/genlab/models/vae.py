"""Beta-VAE (Kingma & Welling 2014; Higgins et al. 2017) with a discrete pixel likelihood.

Logged in nats per image and bits per dimension: the negative ELBO (an upper bound on the NLL) and,
on validation, the importance-sampled NLL estimate with K = `nll_samples` (Burda et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

import torch
from torch import Tensor, nn

from genlab.models.base import evaluating
from genlab.models.likelihood import LikelihoodModule, bits_per_dim
from genlab.nets.likelihoods import Likelihood
from genlab.ranges import AT_LEAST_1, CHANNELS, NON_NEGATIVE, POSITIVE

LOG_2PI = math.log(2 * math.pi)


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 / logvar.exp()).sum(-1)


class VAE(LikelihoodModule):
    """q(z|x) = N(encoder(x)), p(z) = N(0, I), p(x|z) = likelihood(decoder(z)).

    Training minimises reconstruction NLL + beta * KL; with beta = 1 that is the negative ELBO.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: Callable[..., nn.Module],
        likelihood: Likelihood,
        optimizer: partial,
        channels: Annotated[int, CHANNELS] = 1,
        latent_dim: Annotated[int, AT_LEAST_1] = 16,
        lr: Annotated[float, POSITIVE] = 1e-3,
        beta: Annotated[float, NON_NEGATIVE] = 1.0,
        nll_samples: Annotated[int, AT_LEAST_1] = 100,
        monitor: str | None = "val/nll",
    ) -> None:
        super().__init__(optimizer=optimizer, lr=lr, monitor=monitor)
        self.encoder = encoder
        self.likelihood = likelihood
        self.decoder = decoder(out_channels=channels * likelihood.params_per_channel)
        self.latent_dim, self.beta, self.nll_samples = latent_dim, beta, nll_samples

    # -- the networks (the conditional VAE adds its labels here) ---------------------------------
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of q(z | x)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Likelihood parameters of p(x | z)."""
        return self.decoder(z)

    # -- likelihood terms (nats per image) ------------------------------------------------------
    def elbo_terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(reconstruction NLL, KL(q(z|x) || p(z))), each of shape N, with one reparameterised z."""
        mu, logvar = self.encode(x)
        # randn_per_rank: DDP ranks share the seed but must not share the noise.
        z = mu + self.randn_per_rank(*mu.shape).to(mu.dtype) * (0.5 * logvar).exp()
        rec = -self.likelihood.log_prob(x, self.decode(z))
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        return rec, kl

    @torch.no_grad()
    def importance_nll(self, x: Tensor, k: int, chunk: int = 50) -> Tensor:
        """-log p(x) estimated as -log mean_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x); shape N."""
        mu, logvar = self.encode(x)
        log_w = []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            z = mu + torch.randn(kk, *mu.shape, device=x.device, dtype=mu.dtype) * (0.5 * logvar).exp()
            params = self.decode(z.flatten(0, 1))
            log_px = self.likelihood.log_prob(x.repeat(kk, 1, 1, 1), params).view(kk, -1)
            log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
            log_qz = log_normal(z, mu, logvar)
            log_w.append(log_px + log_pz - log_qz)
        return -(torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k))

    def nll(self, x: Tensor) -> Tensor:
        """The importance-sampled estimate with K = `nll_samples`."""
        return self.importance_nll(x, self.nll_samples)

    def training_terms(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        rec, kl = self.elbo_terms(x)
        loss, nelbo = (rec + self.beta * kl).mean(), (rec + kl).mean()
        return loss, {"loss": loss, "nelbo": nelbo, "bpd": bits_per_dim(nelbo, x), "rec": rec.mean(), "kl": kl.mean()}

    def evaluation_terms(self, x: Tensor) -> dict[str, Tensor]:
        """The negative ELBO (a bound), and the NLL estimate unless `nll_samples` is 0."""
        rec, kl = self.elbo_terms(x)
        return {"nelbo": rec + kl, **({"nll": self.nll(x)} if self.nll_samples > 0 else {})}

    # -- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decoder means for z ~ N(0, I) (the usual way to show VAE samples)."""
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        with evaluating(self.decoder):
            return self.likelihood.mean(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        with evaluating(self):
            return self.likelihood.mean(self.decode(self.encode(x)[0]))

    @torch.no_grad()
    def complete(self, x: Tensor, known: Tensor, generator: torch.Generator | None = None, iterations: int = 100) -> Tensor:
        """Fill the pixels where `known` (bool, x's shape) is False (Rezende et al. 2014, appendix F).

        A Markov chain: start the missing pixels at 0 (mid-grey), then repeatedly encode, draw z from
        q(z | x), decode, and copy the decoder's mean into the missing pixels only, keeping the
        visible ones clamped. The last step decodes the posterior mean instead of a draw.
        """
        x, known = x.to(self.device), known.to(self.device)
        current = torch.where(known, x, torch.zeros_like(x))
        with evaluating(self):
            for step in range(iterations):
                mu, logvar = self.encode(current)
                last = step == iterations - 1
                noise = torch.randn(mu.shape, generator=generator).to(mu)
                z = mu if last else mu + noise * (0.5 * logvar).exp()
                current = torch.where(known, x, self.likelihood.mean(self.decode(z)))
        return current

    def visuals(self, batch: Any, generator: torch.Generator) -> dict[str, Tensor]:
        x = batch[0]
        return {"samples": self.sample(len(x), generator), "reconstructions": torch.cat([x, self.reconstruct(x)])}
