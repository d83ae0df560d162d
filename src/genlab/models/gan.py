"""GAN with alternating discriminator/generator steps (manual optimization).

Supports the non-saturating, hinge, LSGAN and WGAN-GP losses, `n_critic` D steps per G step,
zero-centred R1/R2 penalties with lazy regularisation, DiffAugment, an EMA generator for sampling,
and class-conditional nets (`num_classes > 0` in the nets).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import torch
from torch import Tensor, nn

from genlab.augment import DiffAugment
from genlab.errors import ConfigError
from genlab.losses import ADVERSARIAL_LOSSES, LossName, gradient_penalty, zero_centred_penalty
from genlab.models.base import GenerativeModule, evaluating
from genlab.models.ema import EMA
from genlab.models.gan_encoder import encoder_step
from genlab.ranges import AT_LEAST_1, NON_NEGATIVE, POSITIVE, Range
from genlab.strategies import enable_unused_parameter_detection


class GAN(GenerativeModule):
    """A generator `G(z[, y])` against a discriminator `D(x[, y])`.

    Each training batch makes one D step; every `n_critic`-th batch also makes one G step, so every
    D step sees fresh real data (the WGAN-GP recipe). Batches are `(images, labels)`; labels are used
    only when the nets are conditional.

    Stabilisers: `r1_gamma` / `r2_gamma` weigh zero-centred gradient penalties on real / generated
    images, (gamma / 2) E||grad_x D(x)||^2 (Mescheder et al. 2018). With `reg_every = k > 1` they
    are computed on every k-th D step only and multiplied by k (StyleGAN2's lazy regularisation),
    added to that step's D loss rather than taking an optimizer step of their own.
    `diffaugment` (e.g. "translation,cutout,color"; empty: off) augments every image D sees, real
    and generated, in both players' steps (see genlab.augment). Spectral normalisation is a net
    option (`spectral_norm` of the generator/discriminator configs).

    `grad_clip`, `compile`, `compile_mode` and `channels_last`: see GenerativeModule.
    `encoder` (None: off): a net E(x) -> z trained after every G step on ||E(G(z)) - z||^2 with its
    own optimizer (optimizer_g's settings at `lr_e`; see genlab.models.gan_encoder); it maps real
    images to latent codes (genlab-sample task=reconstruct, and a start for GAN completion).
    """

    ddp_modules = ("generator", "discriminator")
    fit_validation_batches = 1

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: partial,
        optimizer_d: partial,
        lr_g: Annotated[float, POSITIVE] = 2e-4,
        lr_d: Annotated[float, POSITIVE] = 2e-4,
        loss: LossName = "non_saturating",
        n_critic: Annotated[int, AT_LEAST_1] = 1,
        # EMA of the generator used for sampling (0 disables); the decay warms up (see genlab.models.ema.EMA).
        ema_decay: Annotated[float, Range(ge=0, lt=1)] = 0.999,
        monitor: str | None = None,
        grad_clip: Annotated[float, NON_NEGATIVE] = 0.0,
        compile: bool = False,  # noqa: A002 - the config key's name
        channels_last: bool = False,
        compile_mode: str = "default",
        r1_gamma: Annotated[float, NON_NEGATIVE] = 0.0,
        r2_gamma: Annotated[float, NON_NEGATIVE] = 0.0,
        reg_every: Annotated[int, AT_LEAST_1] = 1,
        # DiffAugment policies: "translation,cutout,color" or a list; "" is off (checked by genlab.augment).
        diffaugment: str | list[str] | None = "",
        encoder: nn.Module | None = None,
        lr_e: Annotated[float, POSITIVE] = 1e-3,
    ) -> None:
        super().__init__(monitor=monitor, grad_clip=grad_clip, compile=compile, channels_last=channels_last, compile_mode=compile_mode)
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.lr_g, self.lr_d = lr_g, lr_d
        self.loss_name = str(getattr(loss, "value", loss))
        self.loss = ADVERSARIAL_LOSSES[self.loss_name]
        self.n_critic = n_critic
        self.r1_gamma, self.r2_gamma, self.reg_every = r1_gamma, r2_gamma, reg_every
        if compile and (r1_gamma or r2_gamma or self.loss.gradient_penalty):
            # torch.compile's autograd (AOT) cannot differentiate a gradient again; found mid-training otherwise.
            raise ConfigError(
                "model.compile=true cannot train gradient penalties (model.r1_gamma, model.r2_gamma, model.loss=wgan_gp): "
                "torch.compile does not support the double backward they need; set model.compile=false or turn the "
                "penalties off (the digits recipe has r1_gamma=0.1: add ~recipe for the plain GAN)"
            )
        self.augment = DiffAugment(diffaugment)
        self.generator_ema = EMA(generator, ema_decay) if ema_decay > 0 else None
        self.num_classes = getattr(generator, "num_classes", 0)
        self.encoder, self.lr_e = encoder, lr_e
        if encoder is not None:  # its own DDP wrapper under SeparateDDPStrategy, like G and D
            self.ddp_modules = (*type(self).ddp_modules, "encoder")

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
        net = self.generator_ema.module if self.generator_ema is not None else self.generator  # EMA is never compiled
        with evaluating(net):
            images = net(z, labels)
        # A CUDA graph's next replay overwrites this output: callers may keep several batches.
        return images.clone() if net is self.generator and self.cuda_graphs else images

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
            self.make_optimizer(self.optimizer_g, self.generator.parameters(), lr=self.lr_g),
            self.make_optimizer(self.optimizer_d, self.discriminator.parameters(), lr=self.lr_d),
        ] + ([self.make_optimizer(self.optimizer_g, self.encoder.parameters(), lr=self.lr_e)] if self.encoder is not None else [])

    def critic(self, images: Tensor, labels: Tensor | None) -> Tensor:
        """D's logits for images as every training forward shows them: through DiffAugment."""
        return self.discriminator(self.augment(images), labels)

    def regularizes(self, batch_idx: int) -> bool:
        """Whether this D step adds the R1/R2 penalties: every `reg_every`-th D step of the run."""
        if not (self.r1_gamma or self.r2_gamma):
            return False
        trainer = self._trainer
        # One D step per batch; the fit loop's batch count runs across epochs and survives a resume.
        step = trainer.fit_loop.epoch_loop.total_batch_idx if trainer is not None else batch_idx
        return step % self.reg_every == 0

    def penalties(self, real: Tensor, fake: Tensor, labels: Tensor | None) -> dict[str, Tensor]:
        """{"train/r1": ..., "train/r2": ...}: the unweighted zero-centred penalties that are on."""
        out = {}
        for key, gamma, images in (("train/r1", self.r1_gamma, real), ("train/r2", self.r2_gamma, fake)):
            if gamma:
                out[key] = zero_centred_penalty(lambda x: self.critic(x, labels), images, scale=self.loss_scale())
        return out

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        real, labels = batch
        labels = labels if self.num_classes else None
        opt_g, opt_d, *opt_e = self.optimizers()
        n = real.shape[0]

        # D step. No toggled_optimizer here: G runs under no_grad, so no gradient reaches it anyway,
        # and toggling flips requires_grad on every parameter twice per step for nothing.
        with torch.no_grad():
            fake = self.generator(self.noise(n), labels)
        d_real, d_fake = self.critic(real, labels), self.critic(fake, labels)
        d_loss = self.loss.discriminator(d_real, d_fake)
        logs = {"train/loss_d": d_loss.detach(), "train/d_real": d_real.detach().mean(), "train/d_fake": d_fake.detach().mean()}
        if self.loss.gradient_penalty:
            gp = gradient_penalty(lambda x: self.critic(x, labels), real, fake, scale=self.loss_scale())
            d_loss = d_loss + self.loss.gradient_penalty * gp
            logs["train/gp"] = gp.detach()
        if self.regularizes(batch_idx):
            for key, penalty in self.penalties(real, fake, labels).items():
                gamma = self.r1_gamma if key == "train/r1" else self.r2_gamma
                d_loss = d_loss + self.reg_every * gamma / 2 * penalty
                logs[key] = penalty.detach()
        self.zero_grad_backward_step(opt_d, d_loss)

        if (batch_idx + 1) % self.n_critic == 0:
            with self.toggled_optimizer(opt_g):
                fake = self.generator(self.noise(n), labels)
                g_loss = self.loss.generator(self.critic(fake, labels))
                self.zero_grad_backward_step(opt_g, g_loss)
            if self.generator_ema is not None:
                self.generator_ema.update(self.generator)
            logs["train/loss_g"] = g_loss.detach()
            if self.encoder is not None:
                logs["train/loss_e"] = encoder_step(self, opt_e[0], n, labels)

        self.log_train(logs, prog_bar=("train/loss_d", "train/loss_g"))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """GAN quality needs sample metrics (see the metric callback); nothing per batch, and a fit
        validates on one batch only (`fit_validation_batches`)."""

    def visuals(self, batch: Any, generator: torch.Generator) -> dict[str, Tensor]:
        return {"samples": self.sample(len(batch[0]), generator=generator)}
