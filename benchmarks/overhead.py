"""Framework overhead: genlab's GAN training vs a plain PyTorch loop with the same nets and data.

Both train the same DCGAN nets (genlab.nets.dcgan), with the same optimizers, batch size, data
loader, EMA update and number of steps; only the loop differs. Reported: images/s and the ratio.

    python benchmarks/overhead.py [--data mnist_dir] [--steps 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import pytorch_lightning as pl
import torch

from genlab.data import DigitsDataModule, MNISTDataModule
from genlab.losses import ADVERSARIAL_LOSSES
from genlab.models.base import EMA
from genlab.models.gan import GAN
from genlab.nets.dcgan import Discriminator, Generator


def make_nets(image_size: int) -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    return Generator(latent_dim=64, image_size=image_size, width=32), Discriminator(image_size=image_size, width=32)


def infinite(loader):
    while True:
        yield from loader


def plain_loop(datamodule: pl.LightningDataModule, steps: int) -> float:
    """The loop a researcher writes by hand. Returns images/s."""
    g, d = make_nets(datamodule.image_size)
    ema = EMA(g, 0.999)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss = ADVERSARIAL_LOSSES["non_saturating"]
    batches = infinite(datamodule.train_dataloader())
    n_images = 0
    start = time.perf_counter()
    for _ in range(steps):
        real, _ = next(batches)
        z = torch.randn(real.shape[0], 64)
        with torch.no_grad():
            fake = g(z)
        d_loss = loss.discriminator(d(real), d(fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        d.requires_grad_(False)
        g_loss = loss.generator(d(g(torch.randn(real.shape[0], 64))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        ema.update(g)
        n_images += real.shape[0]
    return n_images / (time.perf_counter() - start)


class Timer(pl.Callback):
    """Times the training batches only (excludes Trainer start-up and teardown), like the plain loop."""

    def on_train_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.start


def genlab_loop(datamodule: pl.LightningDataModule, steps: int, full: bool, tmpdir: str) -> float:
    """genlab's GAN module under Lightning. `full`: with the default logger, checkpoints and progress bar."""
    g, d = make_nets(datamodule.image_size)
    adam = partial(torch.optim.Adam, betas=(0.5, 0.999))
    model = GAN(g, d, adam, adam, lr_g=2e-4, lr_d=2e-4, ema_decay=0.999)
    timer = Timer()
    extra = {} if full else {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
    trainer = pl.Trainer(
        max_steps=2 * steps,  # global_step counts both optimizers' steps
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        callbacks=[timer],
        default_root_dir=tmpdir,
        accelerator="cpu",
        devices=1,
        **extra,
    )
    trainer.fit(model, datamodule=datamodule)
    return steps * datamodule.batch_size / timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="MNIST IDX folder (default: embedded digits at 32 px)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.data:
        dm = MNISTDataModule(data_dir=args.data, train_split="t10k", batch_size=args.batch_size)
    else:
        dm = DigitsDataModule(image_size=32, batch_size=args.batch_size)
    dm.setup()
    import tempfile

    results: dict[str, list[float]] = {"plain PyTorch loop": [], "genlab (bare trainer)": [], "genlab (default logging+ckpt)": []}
    plain_loop(dm, 20)  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved so drift in machine load hits all three alike
            results["plain PyTorch loop"].append(plain_loop(dm, args.steps))
            results["genlab (bare trainer)"].append(genlab_loop(dm, args.steps, full=False, tmpdir=tmp))
            results["genlab (default logging+ckpt)"].append(genlab_loop(dm, args.steps, full=True, tmpdir=tmp))
    base = max(results["plain PyTorch loop"])
    print(
        f"{dm.__class__.__name__} {dm.image_size}px, batch {dm.batch_size}, {args.steps} G+D steps, best of {args.repeats}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| loop | images/s (best) | all runs | ratio to plain |\n|---|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {max(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} | {max(values) / base:.3f} |")


if __name__ == "__main__":
    main()
