"""GAN with alternating discriminator/generator steps (manual optimization).

Supports the non-saturating, hinge, LSGAN and WGAN-GP losses, `n_critic` D steps per G step,
an EMA generator for sampling, and class-conditional nets (`num_classes > 0` in the nets).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from genlab.losses import ADVERSARIAL_LOSSES, gradient_penalty
from genlab.models.base import EMA, GenerativeModule, evaluating
from genlab.strategies import enable_unused_parameter_detection


class GAN(GenerativeModule):
    """A generator `G(z[, y])` against a discriminator `D(x[, y])`.

    Each training batch makes one D step; every `n_critic`-th batch also makes one G step, so every
    D step sees fresh real data (the WGAN-GP recipe). Batches are `(images, labels)`; labels are used
    only when the nets are conditional.

    `grad_clip`, `compile` and `channels_last`: see GenerativeModule.
    """

    ddp_modules = ("generator", "discriminator")

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: partial,
        optimizer_d: partial,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        loss: str = "non_saturating",
        n_critic: int = 1,
        ema_decay: float = 0.999,
        monitor: str | None = None,
        grad_clip: float = 0.0,
        compile: bool = False,  # noqa: A002 - the config key's name
        channels_last: bool = False,
    ) -> None:
        super().__init__(monitor=monitor, grad_clip=grad_clip, compile=compile, channels_last=channels_last)
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.lr_g, self.lr_d = lr_g, lr_d
        self.loss_name = str(getattr(loss, "value", loss))
        self.loss = ADVERSARIAL_LOSSES[self.loss_name]
        self.n_critic = n_critic
        self.generator_ema = EMA(generator, ema_decay) if ema_decay > 0 else None
        self.num_classes = getattr(generator, "num_classes", 0)

    # -- sampling -------------------------------------------------------------------------------
    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I). With a (CPU) `generator` the draw is the same on every device; without, every
        DDP rank gets its own slice of the global batch's noise (see `randn_per_rank`)."""
        if generator is None:
            return self.randn_per_rank(n, self.generator.latent_dim)
        return torch.randn(n, self.generator.latent_dim, generator=generator).to(self.device)

    def sample_labels(self, n: int) -> Tensor | None:
        """Labels cycling 0..K-1 (each row of a grid shows every class), or None if unconditional."""
        return torch.arange(n, device=self.device) % self.num_classes if self.num_classes else None

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """n images from the EMA generator (the raw generator when EMA is off), in eval mode."""
        z = self.noise(n, generator)
        labels = self.sample_labels(n) if labels is None else labels
        net = self.generator_ema.module if self.generator_ema is not None else self.generator
        with evaluating(net):
            return net(z, labels)

    # -- training -------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        enable_unused_parameter_detection(self.trainer)
        super().setup(stage)

    def loss_scale(self) -> float:
        """The AMP gradient scaler's current scale (16-mixed), else 1."""
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        # Order matters: optimizer states are restored by position on resume.
        return [
            self.optimizer_g(self.generator.parameters(), lr=self.lr_g),
            self.optimizer_d(self.discriminator.parameters(), lr=self.lr_d),
        ]

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        real, labels = batch
        labels = labels if self.num_classes else None
        opt_g, opt_d = self.optimizers()
        n = real.shape[0]

        with self.toggled_optimizer(opt_d):
            with torch.no_grad():
                fake = self.generator(self.noise(n), labels)
            d_real, d_fake = self.discriminator(real, labels), self.discriminator(fake, labels)
            d_loss = self.loss.discriminator(d_real, d_fake)
            logs = {"train/loss_d": d_loss.detach(), "train/d_real": d_real.detach().mean(), "train/d_fake": d_fake.detach().mean()}
            if self.loss.gradient_penalty:
                gp = gradient_penalty(lambda x: self.discriminator(x, labels), real, fake, scale=self.loss_scale())
                d_loss = d_loss + self.loss.gradient_penalty * gp
                logs["train/gp"] = gp.detach()
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opt_d.step()

        if (batch_idx + 1) % self.n_critic == 0:
            with self.toggled_optimizer(opt_g):
                fake = self.generator(self.noise(n), labels)
                g_loss = self.loss.generator(self.discriminator(fake, labels))
                opt_g.zero_grad(set_to_none=True)
                self.manual_backward(g_loss)
                opt_g.step()
            if self.generator_ema is not None:
                self.generator_ema.update(self.generator)
            logs["train/loss_g"] = g_loss.detach()

        shown = {k: v for k, v in logs.items() if k in ("train/loss_d", "train/loss_g")}
        self.log_dict(shown, prog_bar=True, on_step=True, on_epoch=False)
        self.log_dict({k: v for k, v in logs.items() if k not in shown}, on_step=True, on_epoch=False)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """GAN quality needs sample metrics (see the metric callback); nothing per batch."""

    def visuals(self, batch: Any, generator: torch.Generator) -> dict[str, Tensor]:
        return {"samples": self.sample(len(batch[0]), generator=generator)}
