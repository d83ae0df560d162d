"""Channels-last and fused Adam on CPU: one DCGAN G+D step (plain PyTorch, genlab's nets), images/s.

Fused Adam is a config switch already (`+model.optimizer_g.fused=true +model.optimizer_d.fused=true`);
channels-last would need code, so it is measured here first. Interleaved repeats, best of N.

    python benchmarks/cpu_knobs.py [--image-size 32] [--batch-size 64] [--steps 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from genlab.losses import ADVERSARIAL_LOSSES
from genlab.nets.dcgan import Discriminator, Generator


def images_per_second(image_size: int, batch: int, steps: int, channels_last: bool, fused: bool) -> float:
    torch.manual_seed(0)
    g, d = Generator(64, image_size, 1, 32), Discriminator(image_size, 1, 32)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    g, d = g.to(memory_format=fmt), d.to(memory_format=fmt)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999), fused=fused or None)
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999), fused=fused or None)
    loss = ADVERSARIAL_LOSSES["non_saturating"]
    real = torch.rand(batch, 1, image_size, image_size).mul(2).sub(1).contiguous(memory_format=fmt)

    def step() -> None:
        with torch.no_grad():
            fake = g(torch.randn(batch, 64))
        d_loss = loss.discriminator(d(real), d(fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        d.requires_grad_(False)
        g_loss = loss.generator(d(g(torch.randn(batch, 64))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    variants = {
        "default (contiguous, foreach Adam)": (False, False),
        "channels-last": (True, False),
        "fused Adam": (False, True),
        "channels-last + fused Adam": (True, True),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (cl, fused) in variants.items():
            results[name].append(images_per_second(args.image_size, args.batch_size, args.steps, cl, fused))
    base = max(results["default (contiguous, foreach Adam)"])
    print(
        f"DCGAN {args.image_size}px, batch {args.batch_size}, {args.steps} G+D steps, best of {args.repeats}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| variant | images/s (best) | all runs | ratio |\n|---|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {max(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} | {max(values) / base:.3f} |")


if __name__ == "__main__":
    main()
