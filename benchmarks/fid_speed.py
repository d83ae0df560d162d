"""Seconds to compute val/fid (with KID, IS, precision/recall) for 10,000 generated 28x28 images on
CPU with the classifier extractor: what SampleMetricsCallback costs per evaluation in dcgan_mnist.

    python benchmarks/fid_speed.py --data-dir ../shared/data/mnist [--cache-dir benchmarks/out/cache]

Reports the cold call (real-image features computed and cached) and warm calls (cache hit: only
the generated side is extracted). The extractor itself is trained beforehand (or loaded).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from omegaconf import OmegaConf

from genlab.configs import compose_config
from genlab.errors import instantiate
from genlab.metrics import SampleMetrics, build_extractor, dataset_key


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--cache-dir", default="benchmarks/out/cache")
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cfg = compose_config(
        "train",
        [
            "experiment=dcgan_mnist",
            f"dataset.data_dir={args.data_dir}",
            "dataset.train_split=t10k",
            f"paths.cache_dir={args.cache_dir}",
            "hydra.run.dir=.",
        ],
    )
    dataset_cfg = OmegaConf.to_container(cfg.dataset, resolve=True, enum_to_str=True)
    datamodule, model = instantiate(cfg.dataset), instantiate(cfg.model).eval()
    key = dataset_key(dataset_cfg)
    extractor = build_extractor(instantiate(cfg.metrics.features), datamodule, key, args.cache_dir)
    metrics = SampleMetrics(extractor, key, cache_dir=f"{args.cache_dir}/fid_speed", num_samples=args.num_samples)
    timings = []
    for _ in range(1 + args.repeats):
        start = time.perf_counter()
        values, _ = metrics.evaluate(model, datamodule, "val")
        timings.append(round(time.perf_counter() - start, 2))
    print(
        json.dumps(
            {
                "num_samples": args.num_samples,
                "threads": torch.get_num_threads(),
                "cold_s": timings[0],
                "warm_s": timings[1:],
                "extractor": extractor.key,
                "fid_untrained": round(values["fid"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
