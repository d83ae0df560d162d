"""Completion and conditional-sampling accuracy by genlab's digit classifier (benchmarks/README.md,
"After training"): trains each family briefly with genlab-train, then scores

- completion: held-out digits with the bottom half removed, filled by the model vs by the mean
  training image vs by uniform noise: how often the classifier gives the original's class;
- conditional control: how often it gives the requested class to cgan / cvae / crnn samples, and the
  Classification Accuracy Score (the classifier trained on generated samples, tested on real digits).

    OMP_NUM_THREADS=1 python benchmarks/after_training.py --out benchmarks/results/after_training [--epochs-scale 1]

Writes results.json and, per family, complete_grid.png / interpolate_grid.png from genlab-sample.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from genlab.checkpoint import load_datamodule, load_model, read_checkpoint
from genlab.metrics.classifier import ClassifierFeatures
from genlab.tasks.score import classification_accuracy_score, completion_accuracy, label_agreement

QUIET = ["~callbacks.sample_metrics", "~callbacks.sample_grid", "logger=csv", "trainer.enable_progress_bar=false"]
#: name -> (genlab-train overrides, completion options)
FAMILIES = {
    "pixelrnn": (["experiment=pixelrnn_digits", "trainer.max_epochs=15"], {}),
    "vae": (["model=vae", "dataset=digits", "dataset.image_size=16", "model.nll_samples=4", "trainer.max_epochs=30"], {"iterations": 100}),
    "cvae": (
        ["model=cvae", "dataset=digits", "dataset.image_size=16", "model.latent_dim=8", "model.nll_samples=4", "trainer.max_epochs=80"],
        {"iterations": 100},
    ),
    "crnn": (["experiment=pixelrnn_digits", "model.num_classes=10", "trainer.max_epochs=60"], {}),
    "cgan": (["model=cgan", "dataset=digits", "dataset.image_size=16", "model.monitor=null", "trainer.max_epochs=40"], {"iterations": 200}),
}

#: Families scored on conditional control only: completing unlabelled images needs each image's class.
CONDITIONAL_ONLY = ("cvae", "crnn")


def train(name: str, overrides: list[str], root: Path) -> Path:
    run = root / name
    ckpt = run / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        cmd = [sys.executable, "-m", "genlab.train", *overrides, *QUIET, f"hydra.run.dir={run}"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    return ckpt


def sample_cli(ckpt: Path, out: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "genlab.sample", f"ckpt_path={ckpt}", f"out={out}", *args], check=True, capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/after_training"))
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--cache-dir", type=Path, default=Path("outputs/bench_cache"))
    parser.add_argument("--runs", type=Path, default=Path("outputs/after_training_runs"), help="genlab-train run dirs (reused when present)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.families:
        overrides, options = FAMILIES[name]
        start = time.perf_counter()
        ckpt = train(name, overrides, args.runs)
        trained = time.perf_counter() - start
        saved = read_checkpoint(ckpt)
        model = load_model(ckpt, ckpt=saved)
        datamodule, dataset_cfg = load_datamodule(saved)
        extractor = ClassifierFeatures().build(datamodule, f"digits{dataset_cfg['image_size']}", args.cache_dir)
        images, labels = datamodule.splits["test"]
        x = images.float() / 127.5 - 1
        mean_image = (datamodule.splits["train"][0].float() / 127.5 - 1).mean(0, keepdim=True)
        start = time.perf_counter()
        results[name] = {"num_test": len(x), "train_s": round(trained)}
        if name not in CONDITIONAL_ONLY:
            scores = completion_accuracy(model, extractor, x, labels.long(), mean_image, **options)
            results[name] |= {"completion_bottom_half": scores, "complete_s": round(time.perf_counter() - start)}
        if getattr(model, "num_classes", 0):
            results[name]["label_agreement"] = label_agreement(model, extractor, 1000)
            results[name]["cas"] = classification_accuracy_score(model, datamodule)
        if name not in CONDITIONAL_ONLY:
            sample_cli(ckpt, args.out / name / "complete", "task=complete", "num_samples=16", *[f"{k}={v}" for k, v in options.items()])
        else:
            sample_cli(ckpt, args.out / name / "labels", "labels=[0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9]")
        if name in ("vae", "cgan"):
            sample_cli(ckpt, args.out / name / "interpolate", "task=interpolate", "num_samples=8", "steps=10")
        print(name, json.dumps(results[name]), flush=True)
        path = args.out / "results.json"  # after every family: a later failure keeps the earlier ones
        previous = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps({**previous, name: results[name]}, indent=2))


if __name__ == "__main__":
    main()
