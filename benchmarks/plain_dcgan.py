"""Plain PyTorch DCGAN baseline: genlab.nets.dcgan's nets on MNIST t10k (8,000 train images) for a
fixed wall-clock budget, no Lightning, no EMA. Writes generator weights and a sample grid, then
scores 10,000 samples with genlab's classifier FID against the 2,000 held-out images (the same
protocol genlab-eval uses for the genlab run).

    python benchmarks/plain_dcgan.py --data-dir ../shared/data/mnist --minutes 5 --out benchmarks/out/plain
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.data import MNISTDataModule
from genlab.images import save_grid
from genlab.metrics import ClassifierFeatures, MetricStream, SampleMetrics, dataset_key
from genlab.nets.dcgan import Discriminator, Generator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--out", default="benchmarks/out/plain")
    parser.add_argument("--cache-dir", default="benchmarks/out/cache")
    args = parser.parse_args()
    torch.manual_seed(42)
    out = Path(args.out)
    dm = MNISTDataModule(data_dir=args.data_dir, train_split="t10k", batch_size=64)
    dm.setup()
    g, d = Generator(latent_dim=64, image_size=28, width=32), Discriminator(image_size=28, width=32)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    start, steps = time.monotonic(), 0
    while time.monotonic() - start < args.minutes * 60:
        for real, _ in dm.train_dataloader():
            z = torch.randn(len(real), 64)
            fake = g(z)
            d_loss = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()  # non-saturating
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            g_loss = F.softplus(-d(fake)).mean()
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            steps += 1
            if time.monotonic() - start >= args.minutes * 60:
                break
    g.eval()
    out.mkdir(parents=True, exist_ok=True)
    torch.save(g.state_dict(), out / "generator.pt")
    with torch.no_grad():
        save_grid(g(torch.randn(64, 64, generator=torch.Generator().manual_seed(1234))), out / "grid.png")
    dataset_cfg = {
        "_target_": "genlab.data.MNISTDataModule",
        "data_dir": args.data_dir,
        "train_split": "t10k",
        "val_size": 2000,
        "image_size": 28,
        "channels": 1,
        "binarize": "none",
        "seed": 0,
    }
    key = dataset_key(dataset_cfg)
    metrics = SampleMetrics(ClassifierFeatures().build(dm, key, args.cache_dir), key, cache_dir=args.cache_dir, num_samples=10000)

    class Plain:
        def metric_streams(self, datamodule, split, num_samples):
            fake = lambda idx, gen: g(torch.randn(len(idx), 64, generator=gen))  # noqa: E731
            return [MetricStream(split, real=lambda: datamodule.dataset(split).images, fake=fake, num_fake=num_samples)]

    with torch.no_grad():
        values, protocols = metrics.evaluate(Plain(), dm, "test")
    result = {"steps": steps, "minutes": args.minutes, "metrics": values, "protocol": protocols["fid"]}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({"steps": steps, **values}))


if __name__ == "__main__":
    main()
