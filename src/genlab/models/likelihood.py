"""What the likelihood families (VAE, PixelRNN) share: an optimizer, and scores in nats per image
with bits per dimension beside them, logged the same way in training, validation and test.

A family implements `nll(x)` (its negative log-likelihood per image: exact, or an estimate) and may
override `training_terms` (the loss it minimises and what to log) and `evaluation_terms` (more
quantities to score, e.g. the VAE's ELBO next to its importance-sampled NLL).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from torch import Tensor

from genlab.models.base import GenerativeModule


def bits_per_dim(nats: Tensor, x: Tensor) -> Tensor:
    """Nats per image -> bits per dimension (nats / (C * H * W * ln 2))."""
    return nats / (x[0].numel() * math.log(2))


def bits_name(name: str) -> str:
    """The key of a quantity's bits/dim: `nll` -> `bpd` (the headline number), `nelbo` -> `nelbo_bpd`."""
    return "bpd" if name == "nll" else f"{name}_bpd"


class LikelihoodModule(GenerativeModule):
    """Trained by (a bound on) maximum likelihood; `val/nll` is the monitored metric by default."""

    def __init__(self, optimizer: partial, lr: float, monitor: str | None = "val/nll", **base: Any) -> None:
        super().__init__(monitor=monitor, **base)
        self.optimizer, self.lr = optimizer, lr

    bits_per_dim = staticmethod(bits_per_dim)
    #: The labels of the batch being scored: class-conditional families read them in `nll` and the
    #: terms, which take the images only.
    batch_labels: Tensor | None = None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.make_optimizer(self.optimizer, self.parameters(), lr=self.lr)

    def nll(self, x: Tensor) -> Tensor:
        """-log p(x) per image in nats (shape N)."""
        raise NotImplementedError

    def training_terms(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(loss to minimise, {name: scalar} logged as train/<name>); default: the NLL and its bits/dim."""
        nll = self.nll(x).mean()
        return nll, {"nll": nll, "bpd": bits_per_dim(nll, x)}

    def evaluation_terms(self, x: Tensor) -> dict[str, Tensor]:
        """{name: nats per image (shape N)} scored on validation and test; bits/dim are added."""
        return {"nll": self.nll(x)}

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        self.batch_labels = batch[1]
        loss, logs = self.training_terms(batch[0])
        scalars = {f"train/{k}": v.detach() for k, v in logs.items()}
        self.log_train(scalars, prog_bar=tuple(scalars))
        return loss

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str) -> None:
        x, self.batch_labels = batch
        metrics = {}
        for name, nats in self.evaluation_terms(x).items():
            mean = nats.mean()
            metrics.update({f"{stage}/{name}": mean, f"{stage}/{bits_name(name)}": bits_per_dim(mean, x)})
        self.log_dict(metrics, prog_bar=True, on_epoch=True, batch_size=len(x), sync_dist=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")
