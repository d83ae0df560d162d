"""One Adam step on a DCGAN generator's parameters, three ways: PyTorch's per-tensor loop, foreach, fused.

python benchmarks/adam_step.py            # one thread; widths 4 and 32 (overhead.py's small/medium nets)
"""

from __future__ import annotations

import time

import torch

from genlab.nets.dcgan import Generator


def step_us(width: int, image_size: int, steps: int = 300, **options: bool) -> float:
    net = Generator(latent_dim=64, image_size=image_size, width=width)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999), **options)
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    for _ in range(20):  # warm-up: state allocation
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps * 1e6


def main() -> None:
    torch.set_num_threads(1)
    print("| generator | per-tensor us | foreach us | fused us |\n|---|---|---|---|")
    for width, size in ((4, 8), (32, 16)):
        times = [min(step_us(width, size, **o) for _ in range(3)) for o in ({"fused": False}, {"foreach": True}, {"fused": True})]
        print(f"| width {width}, {size} px | " + " | ".join(f"{t:.0f}" for t in times) + " |")


if __name__ == "__main__":
    main()
