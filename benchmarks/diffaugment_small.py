"""DiffAugment on a small subset: the same GAN, seed and number of batches with and without it.

Trains genlab's default digits GAN (DCGAN nets, 16 px, non-saturating loss, EMA) on the first
`--fraction` of the digits training split, then scores the EMA generator's samples with classifier
FID against the validation split (the extractor trained on the full training split), beside the
real-vs-real floor. Budgets are in batches so the comparison holds on a busy machine.

    python benchmarks/diffaugment_small.py --fraction 0.1 --batches 3000 --policies none translation,cutout

Each run uses one thread; `--processes 2` runs two at a time (on 2 cores, about twice as fast).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
import torch

from genlab.data import DigitsDataModule
from genlab.metrics import ClassifierFeatures, SampleMetrics, dataset_key
from genlab.models.gan import GAN
from genlab.nets.dcgan import Discriminator, Generator

DIGITS = {"_target_": "genlab.data.DigitsDataModule", "image_size": 16, "channels": 1, "binarize": "none", "seed": 0}


class DigitsSubset(DigitsDataModule):
    """Digits whose training split is its first `fraction` (validation and test unchanged)."""

    def __init__(self, fraction: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fraction = fraction

    def load_splits(self):
        splits = super().load_splits()
        images, labels = splits["train"]
        n = max(1, round(len(images) * self.fraction))
        splits["train"] = (images[:n], labels[:n])
        return splits


def train_and_score(policy: str, fraction: float, batches: int, seed: int, cache_dir: str, num_samples: int = 2000) -> dict[str, float]:
    pl.seed_everything(seed, verbose=False)
    data = DigitsSubset(fraction, batch_size=32)
    adam = partial(torch.optim.Adam, betas=(0.5, 0.999))
    model = GAN(Generator(64, 16, 1, 32), Discriminator(16, 1, 32), adam, adam, ema_decay=0.999, diffaugment=policy)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=2 * batches,  # one D and one G optimizer step per batch
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=data)
    seconds = time.perf_counter() - start
    full = DigitsDataModule(image_size=16)
    key = dataset_key(DIGITS)
    extractor = ClassifierFeatures().build(full, key, cache_dir)
    values, _ = SampleMetrics(extractor, key, cache_dir=cache_dir, num_samples=num_samples, kid_subsets=20).evaluate(model, full, "val")
    data.setup()
    return {**values, "train_images": len(data.dataset("train")), "batches": batches, "seconds": seconds}


def train_and_score_one_thread(policy: str, fraction: float, batches: int, seed: int, cache_dir: str) -> dict[str, float]:
    """`train_and_score` on one thread, for worker processes (small convolutions run fastest so)."""
    torch.set_num_threads(1)
    return train_and_score(policy, fraction, batches, seed, cache_dir)


def score_runs(runs: list[tuple[str, int]], fraction: float, batches: int, cache_dir: str, processes: int = 1) -> list[dict[str, float]]:
    """Scores of each (policy, seed) run, in order, `processes` runs at a time in spawned workers.
    Each run is seeded, so its score does not depend on which worker runs it or when."""
    args = [(policy, fraction, batches, seed, cache_dir) for policy, seed in runs]
    if processes == 1:
        return [train_and_score_one_thread(*a) for a in args]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(train_and_score_one_thread, *zip(*args)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--batches", type=int, default=3000)
    parser.add_argument("--policies", nargs="+", default=["none", "translation,cutout"], help="'none' is no augmentation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cache-dir", default="benchmarks/out/cache")
    parser.add_argument("--out", default=None)
    parser.add_argument("--processes", type=int, default=1, help="runs at a time, one thread each")
    args = parser.parse_args()
    runs = [("" if p == "none" else p, seed) for seed in args.seeds for p in args.policies]
    results = []
    for (policy, seed), r in zip(runs, score_runs(runs, args.fraction, args.batches, args.cache_dir, args.processes)):
        results.append({"policy": policy or "none", "seed": seed, **r})
        print(
            f"seed {seed} policy {policy or 'none':24s} FID {r['fid']:8.2f} (floor {r['fid_floor']:.2f})  "
            f"max class share {r['max_class_share']:.3f}  below half {r['classes_below_half']:.0f}  {r['seconds']:.0f} s",
            flush=True,
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
