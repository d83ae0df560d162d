"""PixelRNN (Row LSTM) on binarized MNIST: validation NLL after a fixed CPU training budget, beside
this repo's VAE on the same split and budget, and sampling speed of the cached vs the naive sampler.

    python benchmarks/pixelrnn.py [--minutes 10] [--data-dir ../shared/data/mnist] [--out benchmarks/out/pixelrnn]

Protocol: MNIST t10k split into 8,000 training and 2,000 validation images (`dataset.train_split=t10k`),
dynamic binarization for training, one fixed seeded binarization of the validation images (the
same for both models). Each model trains for `--minutes` of wall-clock time (`trainer.max_time`) on
one CPU thread, with no validation or sample grids inside the budget; then the final weights are
evaluated on the 2,000 validation images: PixelRNN's exact NLL, the VAE's importance-sampled
NLL (K = 100, its `val/nll`). Prints a JSON summary and writes it to OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from genlab.configs import compose_config
from genlab.images import save_grid

PAPER_NLL = {"PixelRNN Diagonal BiLSTM, 7 layers (paper, 50k training images)": 79.20}


def compose_experiment(experiment: str, data_dir: Path, *overrides: str):
    return compose_config("train", [f"experiment={experiment}", f"dataset.data_dir={data_dir}", "dataset.train_split=t10k", *overrides])


def train_for(experiment: str, data_dir: Path, minutes: float, out: Path) -> tuple[pl.LightningModule, pl.LightningDataModule, dict]:
    """Train `experiment` for `minutes` of wall clock; return the model, its data and the final validation metrics."""
    cfg = compose_experiment(experiment, data_dir)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.dataset)
    model = instantiate(cfg.model)
    budget = time.strftime("00:%H:%M:%S", time.gmtime(minutes * 60))
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        max_time=budget,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    trained_s = time.perf_counter() - start
    steps = trainer.global_step
    evaluator = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    metrics = evaluator.validate(model, datamodule=datamodule, verbose=False)[0]
    path = out / experiment / "model.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    summary = {
        "experiment": experiment,
        "train_seconds": round(trained_s, 1),
        "optimizer_steps": steps,
        "batch_size": cfg.dataset.batch_size,
        "images_seen": steps * cfg.dataset.batch_size,
        "val_nll_nats": round(metrics["val/nll"], 2),
        "val_bpd": round(metrics["val/bpd"], 4),
        "weights": str(path),
    }
    return model, datamodule, summary


def sampling_speed(model: pl.LightningModule, n: int) -> dict:
    """Images/s of the cached and the naive sampler on the same draws, and whether they agree."""
    timings = {}
    images = {}
    for name, sampler in (("cached", model.sample), ("naive", model.sample_naive)):
        start = time.perf_counter()
        images[name] = sampler(n, generator=torch.Generator().manual_seed(0))
        timings[name] = time.perf_counter() - start
    return {
        "batch": n,
        "cached_images_per_s": round(n / timings["cached"], 3),
        "naive_images_per_s": round(n / timings["naive"], 4),
        "speedup": round(timings["naive"] / timings["cached"], 1),
        "identical_images": bool(torch.equal(images["cached"], images["naive"])),
        "differing_pixels": int((images["cached"] != images["naive"]).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "pixelrnn")
    parser.add_argument("--naive-batch", type=int, default=8, help="images per sampler in the speed comparison")
    args = parser.parse_args()
    # The benchmark machine is a shared 2-core CPU: one thread is several times faster than two
    # threads competing with other processes for these small, latency-bound convolutions.
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]

    rnn, _, rnn_summary = train_for("pixelrnn_mnist", args.data_dir, args.minutes, args.out)
    grid = save_grid(rnn.sample(64, generator=torch.Generator().manual_seed(1234)), args.out / "pixelrnn_mnist_samples.png")
    speed = sampling_speed(rnn, args.naive_batch)
    _, _, vae_summary = train_for("vae_mnist", args.data_dir, args.minutes, args.out)

    results = {
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)",
        "date": time.strftime("%Y-%m-%d"),
        "budget_minutes": args.minutes,
        # The machine is shared: the 1-minute load average before and after says how contended it was.
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "pixelrnn": rnn_summary,
        "vae": vae_summary,
        "paper": PAPER_NLL,
        "sample_grid": str(grid),
        "sampling": speed,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
