"""CycleGAN (Zhu et al. 2017): unpaired translation between domains A and B (manual optimization).

Names follow the official code: G_A maps A -> B and D_A judges its outputs against real B; G_B maps
B -> A and D_B judges against real A. Per batch: one step of both generators (adversarial + cycle +
identity losses), then one step of both discriminators on real images and on fakes drawn through
the image pools. Learning rates stay constant for `n_epochs`, then fall linearly to zero over
`n_epochs_decay` (stepped once per epoch).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.contracts import TwoDomainData
from genlab.errors import ConfigError
from genlab.images import to_uint8
from genlab.losses import ADVERSARIAL_LOSSES, AdversarialLoss
from genlab.models.base import GenerativeModule, evaluating
from genlab.models.image_pool import ImagePool, load_pools, pools_state
from genlab.ranges import NON_NEGATIVE, POSITIVE
from genlab.strategies import enable_unused_parameter_detection

if TYPE_CHECKING:
    from genlab.metrics.streams import MetricStream


class Direction(str, enum.Enum):
    """Translation direction; `value[0]` is the source domain."""

    AtoB = "AtoB"
    BtoA = "BtoA"


def _real_uint8(datamodule: TwoDomainData, split: str, domain: str) -> Tensor:
    return to_uint8(datamodule.images(split, domain))


def linear_decay(n_epochs: int, n_epochs_decay: int) -> Callable[[int], float]:
    """LR factor for epoch e (0-based): 1 for e < n_epochs, then 1 - (e - n_epochs + 1) / (n_epochs_decay + 1),
    reaching zero when training ends after n_epochs + n_epochs_decay epochs (the official `lambda_rule`)."""
    return partial(_linear_decay, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay)


def _linear_decay(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    # A module-level function under partial (not a lambda) so schedulers and models stay picklable.
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


class CycleGAN(GenerativeModule):
    """Two generators and two discriminators trained with adversarial, cycle and identity losses.

    `generator` and `discriminator` build one net each per call (Hydra `_partial_` configs), so both
    directions get the same architecture and independent weights. `gan_loss` scores discriminator
    outputs (LSGAN by default): an `AdversarialLoss`, or its name in `genlab.losses.ADVERSARIAL_LOSSES`. The identity loss weight is relative:
    `lambda_identity * lambda_B * |G_A(b) - b|`. `grad_clip`, `compile`, `compile_mode` and `channels_last`: see
    GenerativeModule (they act on all four networks).
    """

    loss_names = ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]
    visual_names_A = ["real_A", "fake_B", "rec_A", "idt_B"]
    visual_names_B = ["real_B", "fake_A", "rec_B", "idt_A"]
    model_names = ["G_A", "G_B", "D_A", "D_B"]
    visuals_nrow = 4
    ddp_modules = ("G_A", "G_B", "D_A", "D_B")
    datamodule_type = TwoDomainData  # batches are (images_A, images_B)

    def __init__(
        self,
        generator: Callable[[], nn.Module],
        discriminator: Callable[[], nn.Module],
        gan_loss: AdversarialLoss | str,
        optimizer_g: partial,
        optimizer_d: partial,
        lr: Annotated[float, POSITIVE] = 2e-4,
        lambda_A: Annotated[float, NON_NEGATIVE] = 10.0,
        lambda_B: Annotated[float, NON_NEGATIVE] = 10.0,
        # Identity loss weight relative to lambda_A/B (0 disables it).
        lambda_identity: Annotated[float, NON_NEGATIVE] = 0.5,
        # Generated images kept per direction for the discriminators (0 disables the pool).
        pool_size: Annotated[int, NON_NEGATIVE] = 50,
        n_epochs: Annotated[int, NON_NEGATIVE] = 100,
        n_epochs_decay: Annotated[int, NON_NEGATIVE] = 100,
        monitor: str | None = None,
        grad_clip: Annotated[float, NON_NEGATIVE] = 0.0,
        compile: bool = False,  # noqa: A002 - the config key's name
        channels_last: bool = False,
        compile_mode: str = "default",
    ) -> None:
        super().__init__(monitor=monitor, grad_clip=grad_clip, compile=compile, channels_last=channels_last, compile_mode=compile_mode)
        if pool_size < 0 or n_epochs < 0 or n_epochs_decay < 0:
            raise ConfigError(f"model.pool_size={pool_size}, n_epochs={n_epochs}, n_epochs_decay={n_epochs_decay}: none may be negative")
        self.automatic_optimization = False
        self.G_A, self.G_B = generator(), generator()
        self.D_A, self.D_B = discriminator(), discriminator()
        self.gan_loss = ADVERSARIAL_LOSSES.get(gan_loss) if isinstance(gan_loss, str) else gan_loss
        if not isinstance(self.gan_loss, AdversarialLoss) or self.gan_loss.gradient_penalty:
            usable = ", ".join(name for name, loss in ADVERSARIAL_LOSSES.items() if not loss.gradient_penalty)
            raise ConfigError(f"model.gan_loss={gan_loss}: CycleGAN takes one of {usable} (it has no gradient penalty)")
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.lr = lr
        self.lambda_A, self.lambda_B, self.lambda_identity = lambda_A, lambda_B, lambda_identity
        self.n_epochs, self.n_epochs_decay = n_epochs, n_epochs_decay
        # fake_B goes to D_A through pool "A", fake_A to D_B through pool "B" (the official pairing).
        self.pools = {"A": ImagePool(pool_size), "B": ImagePool(pool_size)}

    # -- translation ----------------------------------------------------------------------------
    def generators(self, direction: Direction | str) -> tuple[nn.Module, nn.Module]:
        """(forward, backward) generators for `direction`: AtoB -> (G_A, G_B)."""
        return (self.G_A, self.G_B) if Direction(direction) is Direction.AtoB else (self.G_B, self.G_A)

    @torch.no_grad()
    def translate(self, x: Tensor, direction: Direction | str = Direction.AtoB) -> Tensor:
        """Images of the source domain (float NCHW in [-1, 1]) mapped to the other domain, in eval mode."""
        net, _ = self.generators(direction)
        with evaluating(net):
            return net(x.to(self.device))

    @torch.no_grad()
    def translate_and_back(self, x: Tensor, direction: Direction | str = Direction.AtoB) -> tuple[Tensor, Tensor]:
        """(translated, reconstructed): x -> other domain -> back to x's domain."""
        forward, backward = self.generators(direction)
        with evaluating(forward), evaluating(backward):
            fake = forward(x.to(self.device))
            return fake, backward(fake)

    def input_domain(self, direction: Direction | str | None = None) -> str:
        """The domain whose images `generate` translates in `direction` (AtoB by default): "A" or "B"."""
        return Direction(direction or Direction.AtoB).value[0]

    def generate(
        self,
        num_samples: int,
        batch_size: int,
        generator: torch.Generator | None = None,
        direction: Direction | str | None = None,
        inputs: Tensor | None = None,
        **options: Any,
    ) -> dict[str, Tensor]:
        """Translate the first `num_samples` of `inputs` (float NCHW in [-1, 1], images of
        `input_domain(direction)`). Returns images (translated), inputs and reconstructions."""
        if inputs is None:
            raise ConfigError("CycleGAN translates images: give it inputs (genlab-sample takes the test split's, or input=DIR_OR_NPZ)")
        direction = Direction(direction or Direction.AtoB)
        outputs: dict[str, list[Tensor]] = {"images": [], "inputs": [], "reconstructions": []}
        for chunk in inputs[:num_samples].split(batch_size):
            fake, rec = self.translate_and_back(chunk, direction)
            outputs["images"].append(fake.cpu())
            outputs["inputs"].append(chunk.cpu())
            outputs["reconstructions"].append(rec.cpu())
        return {key: torch.cat(value) for key, value in outputs.items()}

    def metric_streams(self, datamodule: TwoDomainData, split: str, num_samples: int) -> list[MetricStream]:
        """FID & co. per direction: translations of `split`'s A images against its real B images
        (suffix `_a2b`), and B -> A (`_b2a`); at most `num_samples` translations each."""
        from genlab.metrics.streams import MetricStream

        streams = []
        for direction, suffix in ((Direction.AtoB, "_a2b"), (Direction.BtoA, "_b2a")):
            source, target = direction.value[0], direction.value[-1]
            streams.append(
                MetricStream(
                    reference=f"{'test' if split == 'val' else split}{target}",  # validation uses the test split
                    real=partial(_real_uint8, datamodule, split, target),
                    fake=partial(self._translate_indices, datamodule, split, direction),
                    num_fake=min(num_samples, datamodule.num_images(split, source)),
                    suffix=suffix,
                )
            )
        return streams

    def _translate_indices(
        self, datamodule: TwoDomainData, split: str, direction: Direction, indices: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        return self.translate(datamodule.images(split, direction.value[0], indices=indices.tolist()), direction)

    def grid_layout(self, outputs: dict[str, Tensor]) -> tuple[Tensor, int | None]:
        """input | translated | reconstructed, four triplets per row, at most 32 triplets."""
        n = min(32, len(outputs["images"]))
        triplets = torch.stack([outputs["inputs"][:n], outputs["images"][:n], outputs["reconstructions"][:n]], 1)
        return triplets.flatten(0, 1), 3 * min(4, n)

    # -- training -------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        # Lightning's plain `ddp`: the G step leaves D without gradients (and vice versa).
        enable_unused_parameter_detection(self.trainer)
        # Fail at start-up, not in the sanity check, if the generators cannot take the crops.
        data, factor = self.trainer.datamodule, getattr(self.G_A, "factor", 1)  # a custom generator may not say
        crop = data.image_size if isinstance(data, TwoDomainData) else None
        if crop is not None and crop % factor:
            raise ConfigError(
                f"dataset.crop_size={crop}: the ResNet generators take sizes divisible by {factor} (2 ** model.generator.n_downsampling)"
            )
        super().setup(stage)

    def configure_optimizers(self) -> tuple[list[torch.optim.Optimizer], list[torch.optim.lr_scheduler.LRScheduler]]:
        # Order matters: optimizer and scheduler states are restored by position on resume.
        opt_g = self.make_optimizer(self.optimizer_g, [*self.G_A.parameters(), *self.G_B.parameters()], lr=self.lr)
        opt_d = self.make_optimizer(self.optimizer_d, [*self.D_A.parameters(), *self.D_B.parameters()], lr=self.lr)
        rule = linear_decay(self.n_epochs, self.n_epochs_decay)
        return [opt_g, opt_d], [torch.optim.lr_scheduler.LambdaLR(opt, rule) for opt in (opt_g, opt_d)]

    def generator_losses(self, real_A: Tensor, real_B: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(losses, images) of the generator step; losses are weighted as they enter the total."""
        fake_B, fake_A = self.G_A(real_A), self.G_B(real_B)
        rec_A, rec_B = self.G_B(fake_B), self.G_A(fake_A)
        images = {"real_A": real_A, "real_B": real_B, "fake_A": fake_A, "fake_B": fake_B, "rec_A": rec_A, "rec_B": rec_B}
        losses = {
            "G_A": self.gan_loss.generator(self.D_A(fake_B)),
            "G_B": self.gan_loss.generator(self.D_B(fake_A)),
            "cycle_A": F.l1_loss(rec_A, real_A) * self.lambda_A,
            "cycle_B": F.l1_loss(rec_B, real_B) * self.lambda_B,
        }
        if self.lambda_identity > 0:
            # G_A should leave B images alone (and G_B A images): preserves colour composition.
            images["idt_A"], images["idt_B"] = self.G_A(real_B), self.G_B(real_A)
            losses["idt_A"] = F.l1_loss(images["idt_A"], real_B) * self.lambda_B * self.lambda_identity
            losses["idt_B"] = F.l1_loss(images["idt_B"], real_A) * self.lambda_A * self.lambda_identity
        return losses, images

    def discriminator_loss(self, net: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """Real vs (pooled) fake, halved so D learns slower relative to G (as in the paper)."""
        return 0.5 * self.gan_loss.discriminator(net(real), net(fake.detach()))

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        real_A, real_B = batch
        opt_g, opt_d = self.optimizers()

        with self.toggled_optimizer(opt_g):  # D's parameters get no gradients here
            losses, images = self.generator_losses(real_A, real_B)
            self.zero_grad_backward_step(opt_g, sum(losses.values()))

        with self.toggled_optimizer(opt_d):
            fake_B = self.pools["A"].query(images["fake_B"])
            fake_A = self.pools["B"].query(images["fake_A"])
            losses["D_A"] = self.discriminator_loss(self.D_A, real_B, fake_B)
            losses["D_B"] = self.discriminator_loss(self.D_B, real_A, fake_A)
            self.zero_grad_backward_step(opt_d, losses["D_A"] + losses["D_B"])

        logs = {f"train/{name}": losses[name].detach() for name in self.loss_names if name in losses}
        logs["train/loss_g"] = sum(losses[k] for k in losses if k[0] != "D").detach()
        self.log_train(logs, prog_bar=("train/loss_g",))

    def on_train_epoch_end(self) -> None:
        # Manual optimization: Lightning leaves scheduler stepping to the model.
        for scheduler in self.lr_schedulers():
            scheduler.step()

    def log_cycle_l1(self, batch: tuple[Tensor, Tensor], prefix: str) -> None:
        """Mean cycle-reconstruction L1 per direction (unweighted, in [-1, 1] pixel units)."""
        real_A, real_B = batch
        rec = {"A": self.G_B(self.G_A(real_A)), "B": self.G_A(self.G_B(real_B))}
        cycle = {d: F.l1_loss(rec[d], real) for d, real in (("A", real_A), ("B", real_B))}
        logs = {f"{prefix}/cycle_A": cycle["A"], f"{prefix}/cycle_B": cycle["B"], f"{prefix}/cycle_l1": (cycle["A"] + cycle["B"]) / 2}
        self.log_dict(logs, sync_dist=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.log_cycle_l1(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """genlab-eval reports it next to FID: test/cycle_l1."""
        self.log_cycle_l1(batch, "test")

    # -- what we show ---------------------------------------------------------------------------
    @torch.no_grad()
    def visuals(self, batch: tuple[Tensor, Tensor], generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Per direction, one row per image of (real, fake, reconstructed, identity) (`visuals_nrow`):
        `AtoB` shows real_A, fake_B, rec_A, idt_B. Up to 16 images per direction."""
        real_A, real_B = batch
        n = min(len(real_A), len(real_B), 16)
        with evaluating(self):
            _, images = self.generator_losses(real_A[:n], real_B[:n])
            if "idt_A" not in images:  # no identity loss: still shown, so every row has `visuals_nrow` images
                images["idt_A"], images["idt_B"] = self.G_A(real_B[:n]), self.G_B(real_A[:n])
        out = {}
        for name, keys in (("AtoB", self.visual_names_A), ("BtoA", self.visual_names_B)):
            out[name] = torch.stack([images[k] for k in keys], 1).flatten(0, 1)
        return out

    # -- checkpoints ----------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["image_pools"] = pools_state(self.pools, self._trainer, self.device)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        rank = self.global_rank if self._trainer is not None else 0
        load_pools(self.pools, checkpoint.get("image_pools", {}), rank, self.device)
