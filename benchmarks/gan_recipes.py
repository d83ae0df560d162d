"""GAN recipes toward their real-vs-real floor: genlab-train, then genlab-eval on last.ckpt, per seed.

Each recipe is a list of genlab-train overrides. Every run trains in its own run dir, is timed (wall
seconds of the training process, evaluation during training included), and is then scored by
genlab-eval on its last checkpoint (10,000 samples against the test split by default), beside the
floor and the class shares. One JSON line per run goes to `--out`.

    OMP_NUM_THREADS=2 nice -n 5 python benchmarks/gan_recipes.py --recipes default best --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# The MNIST t10k training images (tests and benchmarks only).
MNIST_DATA = [f"dataset.data_dir={Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'mnist'}", "dataset.train_split=t10k"]
# experiment=dcgan_mnist as it was before the MNIST recipes (the plain DCGAN, batch 64, 20 epochs).
MNIST = ["experiment=dcgan_mnist", "~recipe", "dataset.batch_size=64", "trainer.max_epochs=20", *MNIST_DATA]
STABILISED = ["model.diffaugment=[translation]", "model.r1_gamma=0.1", "model.reg_every=4"]
BETAS_0_99 = ["model.optimizer_g.betas=[0.0,0.99]", "model.optimizer_d.betas=[0.0,0.99]"]
# Overrides on top of the default `genlab-train`; the name is the table's row.
RECIPES: dict[str, list[str]] = {
    "default": [],
    "t_r1_100": [*STABILISED, "trainer.max_epochs=100"],
    "lr2x_50": [*STABILISED, "trainer.max_epochs=50", "model.lr_g=4e-4", "model.lr_d=4e-4"],
    "lr2x_60": [*STABILISED, "trainer.max_epochs=60", "model.lr_g=4e-4", "model.lr_d=4e-4"],
    "b0_99": [*STABILISED, "trainer.max_epochs=100", *BETAS_0_99],
    "b0_99_60": [*STABILISED, "trainer.max_epochs=60", *BETAS_0_99],
    "mnist": MNIST,
    "mnist_t_r1": [*MNIST, *STABILISED],
    # The MNIST recipes as shipped (conf/recipe/gan_mnist.yaml, cgan_mnist.yaml; 40 epochs).
    "gan_mnist": ["experiment=dcgan_mnist", *MNIST_DATA],
    "cgan_mnist": ["experiment=cgan_mnist", *MNIST_DATA],
}
# Cheaper monitoring while training: val/fid at the first and the last epoch only.
QUIET = ["logger=[]", "metrics.every_n_epochs=100000"]


def run(cmd: list[str], log: Path) -> float:
    start = time.perf_counter()
    with log.open("w") as out:
        subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def train_and_eval(name: str, overrides: list[str], seed: int, root: Path, eval_args: list[str], quiet: bool) -> dict:
    run_dir = root / f"{name}_s{seed}"
    extra = QUIET if quiet else ["logger=[]"]
    train_s = run(["genlab-train", f"hydra.run.dir={run_dir}", f"seed={seed}", *extra, *overrides], run_dir.with_suffix(".log"))
    return {"recipe": name, "overrides": overrides, "seed": seed, "train_seconds": round(train_s, 1), **score(run_dir, eval_args)}


def score(run_dir: Path, eval_args: list[str]) -> dict:
    """genlab-eval on the run's last.ckpt: classifier FID, its floor, the ratio and the class shares."""
    run(
        ["genlab-eval", f"ckpt_path={run_dir}/checkpoints/last.ckpt", f"hydra.run.dir={run_dir}/eval", "logger=[]", *eval_args],
        run_dir.with_suffix(".eval.log"),
    )
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())["metrics"]
    value = {k.split("/")[-1]: v["value"] for k, v in metrics.items()}
    fid, fid_floor = value["fid"], value["fid_floor"]
    return {
        "fid": fid,
        "fid_floor": fid_floor,
        "ratio": fid / fid_floor if fid_floor else None,
        "max_class_share": value.get("max_class_share"),
        "min_class_share": value.get("min_class_share"),
        "classes_below_half": value.get("classes_below_half"),
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES))
    parser.add_argument("--extra", nargs="*", default=[], help="NAME=override;override... recipes defined on the command line")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--root", default="outputs/gan_recipes")
    parser.add_argument("--out", default="outputs/gan_recipes/results.jsonl")
    parser.add_argument("--eval-args", nargs="*", default=[], help="extra genlab-eval overrides")
    parser.add_argument("--monitor", action="store_true", help="keep the default in-training val/fid schedule (timing the default as shipped)")
    parser.add_argument("--score", nargs="*", default=[], help="only score these finished run dirs")
    args = parser.parse_args()
    for run_dir in args.score:
        print(json.dumps({"run_dir": run_dir, **score(Path(run_dir), args.eval_args)}), flush=True)
    if args.score:
        return
    recipes = dict(RECIPES)
    for spec in args.extra:
        name, _, overrides = spec.partition("=")
        recipes[name] = [o for o in overrides.split(";") if o]
        args.recipes.append(name) if name not in args.recipes else None
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for name in args.recipes:
            try:
                r = train_and_eval(name, recipes[name], seed, root, args.eval_args, quiet=not args.monitor)
            except subprocess.CalledProcessError as err:
                print(f"{name} seed {seed}: failed ({err})", file=sys.stderr, flush=True)
                continue
            with open(args.out, "a") as out:
                out.write(json.dumps(r) + "\n")
            print(
                f"{name:24s} seed {seed}  FID {r['fid']:6.2f}  floor {r['fid_floor']:.2f}  ratio {r['ratio']:.2f}  "
                f"classes {r['min_class_share']:.3f}-{r['max_class_share']:.3f}  {r['train_seconds']:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
