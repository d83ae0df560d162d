"""GPU throughput of DCGAN training: plain PyTorch loops against genlab, per setting (issue 17).

The nets are `experiment=dcgan_cifar10`'s (z of 100, width 64, 3 channels), with genlab's default
EMA (0.999), fused Adam(2e-4, 0.5, 0.999) and the non-saturating loss in every loop. The data is
50,000 random uint8 RGB images (CIFAR-10's count; throughput does not depend on the pixels) at 32 px,
batch 256, and 64 px, batch 128. Settings:

- precision: fp32 (cuDNN's default TF32 convolutions) or bf16 autocast (`trainer.precision=bf16-mixed`);
- channels-last weights and activations (`model.channels_last=true`);
- data: a DataLoader over host memory, or the uint8 set held on the GPU and indexed there
  (`dataset.device_resident=true`);
- `torch.compile` of G and D (`model.compile=true`), in its default mode or mode="reduce-overhead"
  (CUDA graphs; genlab's `model.compile_mode=reduce-overhead`).

"plain" is the loop a researcher writes by hand (its DataLoader: a TensorDataset with pin_memory);
"genlab" is what `genlab-train` builds (default callbacks and CSV logger and progress bar; the FID
callback left out, as in benchmarks/overhead.py). Each run times --steps batches after the first
epoch and --warmup more batches (compilation happens before), with a CUDA synchronise at both ends, and samples the GPU's
utilisation (NVML, every 20 ms) in between. Results: one JSON line per run (--out) and a table.

    python benchmarks/gpu_throughput.py --out results.jsonl                 # on a GPU machine
    python benchmarks/gpu_throughput.py --targets --out results.jsonl       # only what the targets compare
    python benchmarks/gpu_throughput.py --device cpu --images 600 --steps 4 --warmup 2 --sizes 32  # smoke test
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import threading
import time
from contextlib import nullcontext

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from genlab.data.base import InMemoryImageDataModule, Split
from genlab.losses import ADVERSARIAL_LOSSES
from genlab.models.ema import EMA
from genlab.nets.dcgan import Discriminator, Generator

LATENT, WIDTH, CHANNELS = 100, 64, 3
BATCH = {32: 256, 64: 128}  # image size: batch size

#: name: (loop, options). Options: bf16, channels_last, resident (device-resident data), compile
#: (torch.compile's mode, or None), bare (genlab only: no callbacks, logger or progress bar).
FAST = {"bf16": True, "channels_last": True, "resident": True}
FP32, BF16 = {"resident": True}, {"bf16": True, "resident": True}
VARIANTS = {
    "plain fp32, DataLoader": ("plain", {}),
    "plain fp32, device-resident": ("plain", FP32),
    "plain bf16 + channels-last + device-resident": ("plain", FAST),
    "genlab default (fp32, DataLoader)": ("genlab", {}),
    "genlab fp32, device-resident": ("genlab", FP32),
    "genlab bare trainer, fp32, device-resident": ("genlab", {**FP32, "bare": True}),
    "genlab bf16 + channels-last + device-resident": ("genlab", FAST),
    "plain fp32, device-resident, compile": ("plain", {**FP32, "compile": "default"}),
    "genlab fp32, device-resident, compile": ("genlab", {**FP32, "compile": "default"}),
    "plain fp32, device-resident, compile reduce-overhead": ("plain", {**FP32, "compile": "reduce-overhead"}),
    "genlab fp32, device-resident, compile reduce-overhead": ("genlab", {**FP32, "compile": "reduce-overhead"}),
    "plain bf16, device-resident, compile reduce-overhead": ("plain", {**BF16, "compile": "reduce-overhead"}),
    "genlab bf16, device-resident, compile reduce-overhead": ("genlab", {**BF16, "compile": "reduce-overhead"}),
    # torch 2.11+cu130 on the H200 fails here (inductor's convolution_backward strides at 4x4 maps).
    "plain bf16 + channels-last + device-resident + compile": ("plain", {**FAST, "compile": "default"}),
}
#: `--targets`: what issue 17's two GPU targets compare (fastest genlab against the default recipe and
#: against the fastest plain loop), with the eager device-resident pair between them; ~half the runs.
TARGETS = [
    "genlab default (fp32, DataLoader)",
    "plain fp32, device-resident",
    "genlab fp32, device-resident",
    "plain fp32, device-resident, compile reduce-overhead",
    "genlab fp32, device-resident, compile reduce-overhead",
    "plain bf16, device-resident, compile reduce-overhead",
    "genlab bf16, device-resident, compile reduce-overhead",
]
assert set(TARGETS) <= set(VARIANTS), "TARGETS names a variant VARIANTS does not define"


class RandomImages(InMemoryImageDataModule):
    """`count` random uint8 RGB images at `image_size` (CIFAR-10's shape by default): 95/5 train/val."""

    def __init__(self, count: int = 50_000, **kwargs) -> None:
        super().__init__(channels=CHANNELS, **kwargs)
        self.count = count

    def load_splits(self) -> dict[str, Split]:
        size, generator = self.image_size, torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (self.count, CHANNELS, size, size), dtype=torch.uint8, generator=generator)
        labels = torch.zeros(self.count, dtype=torch.long)
        n_val = self.count // 20
        return {"train": (images[n_val:], labels[n_val:]), "val": (images[:n_val], labels[:n_val]), "test": (images[:n_val], labels[:n_val])}


class Utilisation:
    """Mean GPU utilisation (NVML's percentage of time a kernel ran) sampled every 20 ms from start to stop."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.samples, self._stop = device, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.samples.append(torch.cuda.utilization(self.device))

    def start(self) -> None:
        if self.device.type == "cuda":
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


class Window:
    """Times batches warmup+1 .. warmup+steps: synchronises the device at both ends."""

    def __init__(self, device: torch.device, warmup: int, steps: int, profile: cProfile.Profile | None = None) -> None:
        self.device, self.warmup, self.steps, self.profile = device, warmup, steps, profile
        self.done, self.start, self.seconds = 0, 0.0, None
        self.util = Utilisation(device)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def batch_done(self) -> bool:
        """Call after every batch; True once the window is complete."""
        self.done += 1
        if self.done == self.warmup:
            self.sync()
            self.util.start()
            if self.profile:
                self.profile.enable()
            self.start = time.perf_counter()
        elif self.done == self.warmup + self.steps:
            self.sync()
            self.seconds = time.perf_counter() - self.start
            if self.profile:
                self.profile.disable()
            self.util.stop()
            return True
        return False


class WindowCallback(pl.Callback):
    def __init__(self, window: Window) -> None:
        self.window = window

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.window.batch_done():
            trainer.should_stop = True


def make_nets(image_size: int) -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    g = Generator(latent_dim=LATENT, image_size=image_size, channels=CHANNELS, width=WIDTH)
    return g, Discriminator(image_size=image_size, channels=CHANNELS, width=WIDTH)


def plain_loop(dm: RandomImages, window: Window, bf16=False, channels_last=False, resident=False, compile=None) -> None:  # noqa: A002
    device = window.device
    g, d = (net.to(device) for net in make_nets(dm.image_size))
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    ema = EMA(g, 0.999)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    if compile:
        g.compile(mode=compile)
        d.compile(mode=compile)
    loss = ADVERSARIAL_LOSSES["non_saturating"]
    images = dm.splits["train"][0]
    n, b = len(images), dm.batch_size
    if resident:
        images = images.to(device)

        def batches():
            while True:
                order = torch.randperm(n, device=device)
                for i in range(n // b):
                    yield images[order[i * b : (i + 1) * b]]
    else:
        loader = DataLoader(TensorDataset(images), batch_size=b, shuffle=True, drop_last=True, pin_memory=device.type == "cuda")

        def batches():
            while True:
                for (batch,) in loader:
                    yield batch.to(device, non_blocking=True)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    for uint8 in batches():
        if compile == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()
        real = uint8.float().div_(127.5).sub_(1)
        if channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        with autocast:
            with torch.no_grad():
                fake = g(torch.randn(b, LATENT, device=device))
            d_loss = loss.discriminator(d(real), d(fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        d.requires_grad_(False)
        with autocast:
            g_loss = loss.generator(d(g(torch.randn(b, LATENT, device=device))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        ema.update(g)
        if window.batch_done():
            return


def genlab_loop(dm: RandomImages, window: Window, bf16=False, channels_last=False, resident=False, compile=None, bare=False) -> None:  # noqa: A002
    """What genlab-train builds (the FID callback left out), on `dm`; `bare`: no callbacks, logger or progress bar."""
    from genlab.callbacks import AtomicCheckpointIO
    from genlab.configs import compose_config
    from genlab.errors import instantiate
    from genlab.train import build_model, instantiate_group

    overrides = [
        "~recipe",  # the plain GAN, not the digits quality recipe
        f"model.generator.latent_dim={LATENT}",
        f"model.generator.width={WIDTH}",
        f"model.discriminator.width={WIDTH}",
        "model.monitor=null",  # no val/fid without the FID callback
        f"model.compile={compile is not None}",
        f"model.compile_mode={compile or 'default'}",
        f"model.channels_last={channels_last}",
        f"dataset.image_size={dm.image_size}",
        f"dataset.channels={CHANNELS}",
        f"dataset.batch_size={dm.batch_size}",
        f"paths.output_dir={tempfile.mkdtemp()}",
        "~callbacks.sample_metrics",
        f"trainer.max_steps={2 * (window.warmup + window.steps + 10)}",  # global_step counts G and D steps
        "trainer.max_epochs=-1",
        f"trainer.accelerator={'gpu' if window.device.type == 'cuda' else 'cpu'}",
        f"trainer.precision={'bf16-mixed' if bf16 else '32-true'}",
        "++trainer.enable_model_summary=false",
        *(["trainer.enable_progress_bar=false", "++trainer.enable_checkpointing=false"] if bare else []),
    ]
    cfg = compose_config("train", overrides)
    model = build_model(cfg)
    nets = make_nets(dm.image_size)
    model.generator.load_state_dict(nets[0].state_dict())  # the same start as the plain loop
    model.discriminator.load_state_dict(nets[1].state_dict())
    model.generator_ema.module.load_state_dict(nets[0].state_dict())
    dm.device_resident = resident
    callbacks = [*([] if bare else instantiate_group(cfg.callbacks)), WindowCallback(window)]
    loggers = False if bare else instantiate_group(cfg.logger)
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers, plugins=[AtomicCheckpointIO()])
    trainer.fit(model, datamodule=dm)


LOOPS = {"plain": plain_loop, "genlab": genlab_loop}


def run(name: str, dm: RandomImages, device: torch.device, warmup: int, steps: int, profile: str | None = None) -> dict:
    """One variant; `profile`: append cProfile's host-time breakdown of the timed window to this file."""
    loop, options = VARIANTS[name]
    profiler = cProfile.Profile() if profile else None
    # Steady state: the window opens after the first epoch (its end writes the run's first grid, a one-off).
    epoch = len(dm.splits["train"][0]) // dm.batch_size
    window = Window(device, epoch + warmup + (40 if options.get("compile") else 0), steps, profiler)
    torch._dynamo.reset()  # compiled code is cached per function: each run compiles afresh
    start = time.perf_counter()
    LOOPS[loop](dm, window, **options)
    if window.seconds is None:
        raise RuntimeError(f"{name}: stopped after {window.done} batches, before the window closed")
    util = window.util.mean
    if profiler:
        with open(profile, "a") as f:
            f.write(f"\n## {name}, {dm.image_size} px: {window.seconds / steps * 1e3:.2f} ms/batch under the profiler\n")
            pstats.Stats(profiler, stream=f).sort_stats("tottime").print_stats(35)
            pstats.Stats(profiler, stream=f).sort_stats("cumulative").print_stats(45)
    return {
        "variant": name,
        "image_size": dm.image_size,
        "batch": dm.batch_size,
        "images_per_s": steps * dm.batch_size / window.seconds,
        "ms_per_batch": window.seconds / steps * 1e3,
        "gpu_util_pct": util,
        "wall_s": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], choices=sorted(BATCH))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="VARIANT")
    parser.add_argument("--targets", action="store_true", help="only the variants issue 17's targets compare (TARGETS)")
    parser.add_argument("--steps", type=int, default=300, help="timed batches per run")
    parser.add_argument("--warmup", type=int, default=30, help="batches after the first epoch before the window (+40 with compile)")
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None, help="append one JSON line per run here")
    parser.add_argument("--profile", default=None, help="append each run's cProfile breakdown (host time) here")
    args = parser.parse_args()
    variants = TARGETS if args.targets else args.variants
    device = torch.device(args.device)
    torch.set_float32_matmul_precision("high")  # TF32 matmuls, as cuDNN's convolutions already are
    rows = []
    # Everything without compilation first, both sizes, so that a run cut short still reports them.
    order = sorted(((s, v) for s in args.sizes for v in variants), key=lambda sv: ("compile" in sv[1], sv[0]))
    data = {s: RandomImages(count=args.images, image_size=s, batch_size=BATCH[s]) for s in args.sizes}
    for size, name in order:
        dm = data[size]
        dm.setup()
        try:
            row = run(name, dm, device, args.warmup, args.steps, args.profile)
        except Exception as error:  # noqa: BLE001 - report and go on to the next variant
            row = {"variant": name, "image_size": size, "error": f"{type(error).__name__}: {error}"[:500]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    print(f"torch {torch.__version__}, pytorch_lightning {pl.__version__}, {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}")
    for size in args.sizes:
        print(f"\n{size} px, batch {BATCH[size]}, {args.steps} timed batches\n| variant | images/s | ms/batch | GPU util % |\n|---|---|---|---|")
        for row in rows:
            if row["image_size"] == size:
                if "error" in row:
                    print(f"| {row['variant']} | error: {row['error'][:120]} | | |")
                else:
                    util = "-" if row["gpu_util_pct"] is None else f"{row['gpu_util_pct']:.0f}"
                    print(f"| {row['variant']} | {row['images_per_s']:,.0f} | {row['ms_per_batch']:.2f} | {util} |")


if __name__ == "__main__":
    main()
