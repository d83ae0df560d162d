"""Completion, conditional sampling and GAN-encoder accuracy by genlab's classifier (benchmarks/README.md,
"After training"): trains each family briefly with genlab-train, then scores

- completion: held-out digits with the bottom half removed, filled by the model vs by the mean
  training image vs by uniform noise: how often the classifier gives the original's class
  (conditional models also given each image's true class);
- conditional control: how often it gives the requested class to cgan / cvae / crnn samples, and the
  Classification Accuracy Score (the classifier trained on generated samples, tested on real digits)
  beside the same classifier trained on as many real images;
- the GAN encoder (gan_e: `model/encoder=dcgan`): latent recovery ||E(G(z)) - z||^2 per dimension on
  fresh draws (vs a random code), and the pixel error of G(E(x)) on held-out real images (alone and
  refined by 100 latent steps, vs the same steps from a random code) against the nearest of 10,000 samples.

On sklearn digits (16 px; PixelRNN 8 px; all 179 test images) and on MNIST t10k (8,000 train /
2,000 test images, resized to 16 px, PixelRNN included, with 256 levels; the first --mnist-test=500
test images scored; CAS and the classifier use all of them; tests and benchmarks only, never shipped):

    OMP_NUM_THREADS=1 python benchmarks/after_training.py --datasets digits mnist [--families gan_e cgan] \
        [--mnist-dir ../shared/data/mnist] [--out benchmarks/results/after_training]

Writes results.json ({dataset: {family: ...}}) and, per family, complete / labels / interpolate /
reconstruct grids from genlab-sample. Trained runs are reused from --runs when present, so the guided
families (crnn_cfg*: label dropout) are trained once and scored at each `--guidance W` (results key
`<family>_g<W>`); `--checkpoint best` scores each run's best.ckpt (key suffix `_best`).
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
from genlab.metrics import dataset_key
from genlab.metrics.classifier import ClassifierFeatures
from genlab.models.gan import GAN
from genlab.tasks.conditional import set_guidance
from genlab.tasks.reconstruct import latent_recovery, reconstruction_error
from genlab.tasks.score import classification_accuracy_score, completion_accuracy, label_agreement

QUIET = ["~callbacks.sample_metrics", "~callbacks.sample_grid", "logger=csv", "trainer.enable_progress_bar=false"]
DIGITS = ["dataset=digits", "dataset.image_size=16"]
#: name -> (model overrides, completion options, digits epochs, MNIST epochs or None: skipped there).
FAMILIES = {
    "pixelrnn": (["experiment=pixelrnn_digits"], {}, 15, 4),
    "vae": (["model=vae", "model.nll_samples=4"], {"iterations": 100}, 30, 8),
    "cvae": (["model=cvae", "model.latent_dim=8", "model.nll_samples=4"], {"iterations": 100}, 80, 15),
    "crnn": (["experiment=pixelrnn_digits", "model.num_classes=10"], {}, 60, 16),
    # Trained with 10% of its labels dropped (the null class), sampled with classifier-free guidance
    # (--guidance; 1: the plain conditional model).
    "crnn_cfg": (["experiment=pixelrnn_digits", "model.num_classes=10", "model.label_dropout=0.1"], {}, 60, 16),
    # MNIST only: the same with twice the Row LSTM layers (4 x 32).
    "crnn_cfg_l4": (["experiment=pixelrnn_digits", "model.num_classes=10", "model.label_dropout=0.1", "model.layers=4"], {}, None, 16),
    # MNIST only: twice the Row LSTM's width (hidden 64).
    "crnn_h64": (["experiment=pixelrnn_digits", "model.num_classes=10", "model.hidden=64"], {}, None, 8),
    # MNIST only: binarized once (static), a Bernoulli per pixel (the PixelRNN paper's MNIST setting).
    "crnn_binary": (["experiment=pixelrnn_digits", "model.num_classes=10", "dataset.binarize=static", "model.levels=2"], {}, None, 6),
    "cgan": (["model=cgan", "model.monitor=null"], {"iterations": 200}, 40, 10),
    "gan_e": (["model=gan", "model/encoder=dcgan", "model.monitor=null"], {"iterations": 200}, 40, 10),
}

#: Families scored on conditional control only: completing unlabelled images needs each image's class.
CONDITIONAL_ONLY = ("cvae", "crnn", "crnn_cfg", "crnn_cfg_l4", "crnn_h64", "crnn_binary")


def dataset_overrides(dataset: str, family: list[str], mnist_dir: Path) -> list[str]:
    pixelrnn = any(o.startswith("experiment=pixelrnn") for o in family)
    if dataset == "digits":
        return [] if pixelrnn else DIGITS  # the experiment brings its own (8 px digits, 17 levels)
    mnist = ["dataset=mnist", f"dataset.data_dir={mnist_dir.resolve()}", "dataset.train_split=t10k", "dataset.image_size=16"]
    # PixelRNN on MNIST: the experiment's Row LSTM (2 x 32, batch 32, early stopping) at 16 px, where
    # resized MNIST takes any 8-bit value: a 256-way softmax per pixel.
    if pixelrnn and not any(o.startswith("model.levels=") for o in family):
        return [*mnist, "model.levels=256"]
    return mnist


def train(run: Path, overrides: list[str], checkpoint: str = "last") -> Path:
    """The run's `checkpoint` (last, or best by the model's monitor), training it first if absent."""
    if not (run / "checkpoints" / "last.ckpt").is_file():
        cmd = [sys.executable, "-m", "genlab.train", *overrides, *QUIET, f"hydra.run.dir={run}"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    return run / "checkpoints" / f"{checkpoint}.ckpt"


def sample_cli(ckpt: Path, out: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "genlab.sample", f"ckpt_path={ckpt}", f"out={out}", *args], check=True, capture_output=True, text=True)


def score(name: str, ckpt: Path, options: dict, out: Path, cache_dir: Path, num_test: int | None = None, guidance: float | None = None) -> dict:
    saved = read_checkpoint(ckpt)
    model = load_model(ckpt, ckpt=saved)
    set_guidance(model, guidance)
    datamodule, dataset_cfg = load_datamodule(saved)
    extractor = ClassifierFeatures().build(datamodule, dataset_key(dataset_cfg), cache_dir)
    images, labels = (part[:num_test] for part in datamodule.splits["test"])  # MNIST: the first num_test (CPU budget)
    x = images.float() / 127.5 - 1
    mean_image = (datamodule.splits["train"][0].float() / 127.5 - 1).mean(0, keepdim=True)
    result: dict = {"num_test": len(x), "classifier_accuracy": extractor.info["accuracy"]}
    start = time.perf_counter()
    if name not in CONDITIONAL_ONLY:
        result["completion_bottom_half"] = completion_accuracy(model, extractor, x, labels.long(), mean_image, **options)
        result["complete_s"] = round(time.perf_counter() - start)
        sample_cli(ckpt, out / "complete", "task=complete", "num_samples=16", *[f"{k}={v}" for k, v in options.items()])
    if getattr(model, "num_classes", 0):  # completion given each image's true class
        result["completion_bottom_half_given_label"] = completion_accuracy(
            model, extractor, x, labels.long(), mean_image, known_labels=True, **options
        )
        result["label_agreement"] = label_agreement(model, extractor, 1000)
        result["cas"] = classification_accuracy_score(model, datamodule)
        guided = [] if guidance is None else [f"guidance={guidance}"]
        sample_cli(ckpt, out / "labels", "labels=[0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9]", *guided)
    if isinstance(model, GAN) and model.encoder is not None:  # (a VAE's encoder is another thing)
        options_e = {**options, "encoder_start": True}
        result["completion_bottom_half_encoder_start"] = completion_accuracy(model, extractor, x, labels.long(), mean_image, **options_e)
        result["latent_recovery"] = latent_recovery(model, 1000)
        result["reconstruction"] = reconstruction_error(model, x, num_samples=10_000, iterations=100)
        sample_cli(ckpt, out / "reconstruct", "task=reconstruct", "num_samples=32", "iterations=0")
    if name in ("vae", "cgan", "gan_e"):
        sample_cli(ckpt, out / "interpolate", "task=interpolate", "num_samples=8", "steps=10")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/after_training"))
    parser.add_argument("--datasets", nargs="*", default=["digits", "mnist"], choices=["digits", "mnist"])
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--mnist-dir", type=Path, default=Path("../shared/data/mnist"))
    parser.add_argument("--mnist-test", type=int, default=500, help="MNIST test images scored (of 2,000); digits: all 179")
    parser.add_argument("--cache-dir", type=Path, default=Path("outputs/bench_cache"))
    parser.add_argument("--guidance", type=float, help="a guided conditional PixelRNN's (crnn_cfg) guidance scale (default: its own, 1)")
    parser.add_argument("--checkpoint", default="last", choices=["last", "best"], help="which of each run's checkpoints is scored")
    parser.add_argument("--runs", type=Path, default=Path("outputs/after_training_runs"), help="genlab-train run dirs (reused when present)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.json"
    for dataset in args.datasets:
        for name in args.families:
            overrides, options, digits_epochs, mnist_epochs = FAMILIES[name]
            epochs = digits_epochs if dataset == "digits" else mnist_epochs
            if epochs is None:
                continue
            # digits runs keep their original directories (outputs/after_training_runs/<family>).
            run = args.runs / name if dataset == "digits" else args.runs / dataset / name
            start = time.perf_counter()
            ckpt = train(run, [*overrides, *dataset_overrides(dataset, overrides, args.mnist_dir), f"trainer.max_epochs={epochs}"], args.checkpoint)
            trained = round(time.perf_counter() - start)
            guided = name.startswith("crnn_cfg")
            key = f"{name}_g{args.guidance:g}" if guided and args.guidance is not None else name
            key += "_best" if args.checkpoint == "best" else ""
            guidance = args.guidance if guided else None
            out = args.out / key if dataset == "digits" else args.out / dataset / key
            result = {
                "checkpoint": args.checkpoint,
                "epochs": epochs,
                "train_s": trained,
                **score(name, ckpt, options, out, args.cache_dir, None if dataset == "digits" else args.mnist_test, guidance),
            }
            print(dataset, key, json.dumps(result), flush=True)
            previous = json.loads(path.read_text()) if path.is_file() else {}
            if "digits" not in previous and previous:  # the earlier flat layout held digits only
                previous = {"digits": previous}
            previous.setdefault(dataset, {})[key] = result  # after every family: a later failure keeps the earlier ones
            path.write_text(json.dumps(previous, indent=2))


if __name__ == "__main__":
    main()
