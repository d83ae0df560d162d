"""CycleGAN on the embedded textures: train one setting with genlab-train, then score both directions.

    python benchmarks/cyclegan_textures.py --name default -- model=cyclegan dataset=textures
    python benchmarks/cyclegan_textures.py --name transpose -- model=cyclegan dataset=textures \
        model.generator.upsample=transpose

Everything after `--` goes to `genlab-train` unchanged (plus `hydra.run.dir`). Scores of last.ckpt on the
64 test crops per domain, with genlab's own domain classifier (the `metrics/features=classifier`
extractor: a DigitCNN trained on real train crops labelled A/B, cached, the one behind
`test/fid_a2b`):

- `acc_a2b`: share of translated grass crops (A -> B) it calls gravel; `acc_b2a` the reverse.
- `cycle_a`, `cycle_b`: mean |G_B(G_A(a)) - a| (and B's), in [-1, 1] pixel units; a flat grey crop
  (each crop's mean) scores `flat_a`, `flat_b`.
- `checker_a2b`, `checker_b2a`: power of the translations at the period-2 frequencies (the
  (pi, pi), (pi, 0), (0, pi) bins of their 2D spectrum, where a stride-2 upsampling leaves its
  checkerboard) over that of real target crops; 1 is real-like, >> 1 a periodic checkerboard.
- `cpu_min`: CPU minutes (user + sys) of the genlab-train process, the budget the recipe targets.

A JSON line per run is appended to `<out>/results.jsonl`. Run with `OMP_NUM_THREADS` set; the CPU
minutes do not depend on contention much, the wall time does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import Tensor


def cpu_seconds_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def checker_energy(x: Tensor) -> float:
    """Mean spectral power of x (N x C x H x W, even sides) at the three period-2 frequencies."""
    power = torch.fft.fft2(x - x.mean((-2, -1), keepdim=True)).abs() ** 2
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    return float((power[..., h, w] + power[..., h, 0] + power[..., 0, w]).mean())


@torch.no_grad()
def score(ckpt_path: Path) -> dict[str, float]:
    from genlab.checkpoint import load_datamodule, load_model, read_checkpoint
    from genlab.metrics import ClassifierFeatures, dataset_key

    ckpt = read_checkpoint(ckpt_path)
    model = load_model(ckpt_path, ckpt=ckpt)
    datamodule, dataset_cfg = load_datamodule(ckpt)
    cache_dir = os.environ.get("GENLAB_CACHE_DIR", str(Path.home() / ".cache" / "genlab"))
    classifier = ClassifierFeatures().build(datamodule, dataset_key(dataset_cfg), cache_dir)

    def predicted(images: Tensor) -> Tensor:
        return classifier((images + 1) / 2)[1].argmax(1)  # the extractor takes [0, 1]; A: 0, B: 1

    test = {d: datamodule.images("test", d) for d in ("A", "B")}
    out: dict[str, float] = {"classifier_heldout_acc": classifier.info["accuracy"]}
    for direction, source, target, label in (("a2b", "A", "B", 1), ("b2a", "B", "A", 0)):
        fake, rec = model.translate_and_back(test[source], "AtoB" if direction == "a2b" else "BtoA")
        out[f"acc_{direction}"] = float((predicted(fake) == label).float().mean())
        out[f"real_acc_{target.lower()}"] = float((predicted(test[target]) == label).float().mean())
        out[f"cycle_{source.lower()}"] = float((rec - test[source]).abs().mean())
        out[f"flat_{source.lower()}"] = float((test[source] - test[source].mean((-2, -1), keepdim=True)).abs().mean())
        out[f"checker_{direction}"] = checker_energy(fake) / checker_energy(test[target])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the setting's name (its run dir under --out)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/cyclegan_textures"))
    parser.add_argument("--score-only", action="store_true", help="score an existing run dir, do not train")
    parser.add_argument("overrides", nargs="*", help="genlab-train overrides (after --)")
    args = parser.parse_args()
    run_dir = (args.out / args.name).resolve()
    record: dict[str, object] = {"name": args.name, "overrides": args.overrides}
    if not args.score_only:
        command = ["genlab-train", *args.overrides, f"hydra.run.dir={run_dir}"]
        print("+", " ".join(command), flush=True)
        cpu, wall = cpu_seconds_of_children(), time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        record["cpu_min"] = round((cpu_seconds_of_children() - cpu) / 60, 2)
        record["wall_min"] = round((time.perf_counter() - wall) / 60, 2)
    record.update({k: round(v, 4) for k, v in score(run_dir / "checkpoints" / "last.ckpt").items()})
    print(json.dumps(record), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "results.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    sys.exit(main())
