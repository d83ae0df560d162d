"""CPU images/s per model family: genlab (Lightning) vs a plain PyTorch loop with the same nets.

Every family is built from genlab's own config tree (small CPU sizes); the plain loop trains copies
of the same networks with the same optimizers, batches and losses, written out by hand. genlab runs
with a bare Trainer (no logger, checkpoints or progress bar; start-up excluded, as in the plain
loop) on the DataLoader path and, for in-memory datasets, on the device-resident path. Repeats
are interleaved (the machine is shared); best of N is reported.

    python benchmarks/families.py [--families gan vae rnn cyclegan] [--steps 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from genlab.configs import compose_config
from genlab.errors import instantiate
from genlab.losses import ADVERSARIAL_LOSSES
from genlab.models.cyclegan import ImagePool

# `~recipe`: the plain families (conf/recipe adds DiffAugment, R1, ... for model x dataset pairs);
# the recorded numbers in benchmarks/README.md predate the recipes.
FAMILIES: dict[str, list[str]] = {
    "gan": ["model=gan", "~recipe", "dataset.image_size=32"],
    "vae": ["model=vae", "dataset.image_size=32"],
    "rnn": ["model=rnn", "dataset.image_size=16", "model.levels=256"],
    "cyclegan": [
        "model=cyclegan",
        "dataset=textures",
        "~recipe",
        "model.generator.width=16",
        "model.generator.n_blocks=3",
        "model.discriminator.width=16",
        "dataset.batch_size=4",
    ],
}


def build(family: str, batch_size: int | None, *extra: str) -> tuple[Any, Any]:
    overrides = FAMILIES[family] + ([f"dataset.batch_size={batch_size}"] if batch_size and family != "cyclegan" else []) + list(extra)
    cfg = compose_config("train", overrides)
    torch.manual_seed(0)
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")
    return instantiate(cfg.model), datamodule


def batches(loader) -> Iterator[Any]:
    while True:
        yield from loader


# -- one hand-written training step per family (same maths as genlab's modules) ---------------------
def gan_step(model) -> Callable:
    g, d, loss = model.generator, model.discriminator, ADVERSARIAL_LOSSES[model.loss_name]
    opt_g, opt_d = model.optimizer_g(g.parameters(), lr=model.lr_g), model.optimizer_d(d.parameters(), lr=model.lr_d)
    ema = copy.deepcopy(model.generator_ema)

    def step(batch):
        real = batch[0]
        with torch.no_grad():
            fake = g(torch.randn(len(real), g.latent_dim))
        d_loss = loss.discriminator(d(real), d(fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        d.requires_grad_(False)
        g_loss = loss.generator(d(g(torch.randn(len(real), g.latent_dim))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        ema.update(g)

    return step


def vae_step(model) -> Callable:
    enc, dec, lik = model.encoder, model.decoder, model.likelihood
    opt = model.optimizer([*enc.parameters(), *dec.parameters()], lr=model.lr)

    def step(batch):
        x = batch[0]
        mu, logvar = enc(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        loss = (-lik.log_prob(x, dec(z)) + model.beta * 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def rnn_step(model) -> Callable:
    net = model.net
    opt = model.optimizer(net.parameters(), lr=model.lr)

    def step(batch):
        loss = -net.log_prob(batch[0]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def cyclegan_step(model) -> Callable:
    G_A, G_B, D_A, D_B, crit = model.G_A, model.G_B, model.D_A, model.D_B, model.gan_loss
    opt_g = model.optimizer_g([*G_A.parameters(), *G_B.parameters()], lr=model.lr)
    opt_d = model.optimizer_d([*D_A.parameters(), *D_B.parameters()], lr=model.lr)
    pools = {"A": ImagePool(model.pools["A"].size), "B": ImagePool(model.pools["B"].size)}
    lam_a, lam_b, lam_i = model.lambda_A, model.lambda_B, model.lambda_identity

    def step(batch):
        a, b = batch
        for p in (*D_A.parameters(), *D_B.parameters()):
            p.requires_grad_(False)
        fake_b, fake_a = G_A(a), G_B(b)
        loss_g = (
            crit.generator(D_A(fake_b))
            + crit.generator(D_B(fake_a))
            + F.l1_loss(G_B(fake_b), a) * lam_a
            + F.l1_loss(G_A(fake_a), b) * lam_b
            + F.l1_loss(G_A(b), b) * lam_b * lam_i
            + F.l1_loss(G_B(a), a) * lam_a * lam_i
        )
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in (*D_A.parameters(), *D_B.parameters()):
            p.requires_grad_(True)
        fb, fa = pools["A"].query(fake_b), pools["B"].query(fake_a)
        loss_d = 0.5 * crit.discriminator(D_A(b), D_A(fb.detach())) + 0.5 * crit.discriminator(D_B(a), D_B(fa.detach()))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

    return step


STEPS = {"gan": gan_step, "vae": vae_step, "rnn": rnn_step, "cyclegan": cyclegan_step}


def plain_loop(family: str, steps: int, batch_size: int | None) -> float:
    model, dm = build(family, batch_size)
    step, data = STEPS[family](model), batches(dm.train_dataloader())
    step(next(data))  # warm-up
    n, start = 0, time.perf_counter()
    for _ in range(steps):
        batch = next(data)
        step(batch)
        n += len(batch[0])
    return n / (time.perf_counter() - start)


class Timer(pl.Callback):
    """Times `steps` training batches after the first (warm-up), like the plain loop, then stops."""

    def __init__(self, steps: int) -> None:
        self.steps, self.done, self.images = steps, -1, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.done += 1
        if self.done == 0:
            self.start = time.perf_counter()
            return
        self.images += len(batch[0])
        if self.done == self.steps:
            self.seconds = time.perf_counter() - self.start
            trainer.should_stop = True


def genlab_loop(family: str, steps: int, batch_size: int | None, device_resident: bool, tmpdir: str, *extra: str) -> float:
    model, dm = build(family, batch_size, *extra)
    if hasattr(dm, "device_resident"):
        dm.device_resident = device_resident
    timer = Timer(steps)
    trainer = pl.Trainer(
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[timer],
        default_root_dir=tmpdir,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(model, datamodule=dm)
    return timer.images / timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64, help="in-memory families (CycleGAN: 4)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved: drifting machine load hits every variant alike
            for family in args.families:
                rows.setdefault((family, "plain PyTorch loop (DataLoader)"), []).append(plain_loop(family, args.steps, args.batch_size))
                rows.setdefault((family, "genlab, DataLoader"), []).append(genlab_loop(family, args.steps, args.batch_size, False, tmp))
                if family != "cyclegan":
                    rows.setdefault((family, "genlab, device-resident"), []).append(genlab_loop(family, args.steps, args.batch_size, True, tmp))
                if family in ("gan", "cyclegan"):  # the families with a `model.channels_last` switch
                    rows.setdefault((family, "genlab, DataLoader, model.channels_last=true"), []).append(
                        genlab_loop(family, args.steps, args.batch_size, False, tmp, "model.channels_last=true")
                    )
    print(f"{args.steps} steps after 1 warm-up, best of {args.repeats}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| family | loop | images/s (best) | all runs | ratio to plain |\n|---|---|---|---|---|")
    for (family, name), values in rows.items():
        base = max(rows[(family, "plain PyTorch loop (DataLoader)")])
        print(f"| {family} | {name} | {max(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} | {max(values) / base:.3f} |")


if __name__ == "__main__":
    main()
