"""images/s of each data path for a folder of photos, beside the DCGAN step rate, at 32 and 64 px RGB.

Paths (batch 64, one process, no loader workers, like genlab's defaults):
  decode     every item decoded from its file when served (PIL open + EXIF + resize + crop, genlab's
             `read_image`), as a plain on-the-fly image-folder loader does;
  prepared   `dataset=image_folder` after the one-off decode: batches indexed out of the memory-mapped
             uint8 cache (StatefulDataLoader + `__getitems__`);
  device     the same with `dataset.device_resident=true` (on this CPU the "device" is host memory);
  stream     `dataset=streaming`: litdata shards of the same images on local disk, StreamingDataLoader
             (skipped without the genlab[stream] extra);
  dcgan      D+G training steps of the `experiment=dcgan_cifar10` nets (latent 100, width 64) on
             random batches: what the data path has to keep up with.
The folder: N crops of scikit-image's colour photographs saved as CelebA-sized 178 x 218 JPEGs
(quality 95) or PNGs. PIL decodes on one core, so `decode` is the decode rate per core: a GPU that
trains at R images/s needs R / that rate cores to decode on the fly, and none with the prepared cache.

    python benchmarks/data_paths.py [--images 512] [--sizes 32 64] [--repeats 3] [--format jpg png]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from genlab.data.folder import ImageFolderDataModule, read_image
from genlab.errors import ConfigError
from genlab.images import from_uint8
from genlab.nets.dcgan import Discriminator, Generator

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina", "colorwheel")


def write_folder(root: Path, n: int, fmt: str) -> Path:
    """n 178 x 218 crops (CelebA's size) of the photos at random scales, in 8 class folders."""
    rng = np.random.default_rng(0)
    photos = [getattr(skimage.data, name)() for name in PHOTOS]
    for i in range(n):
        photo = photos[i % len(photos)]
        scale = rng.uniform(218 / min(photo.shape[:2]), 1.0)
        h, w = max(218, int(photo.shape[0] * scale)), max(178, int(photo.shape[1] * scale))
        small = np.asarray(Image.fromarray(photo).resize((w, h), Image.BILINEAR))
        top, left = rng.integers(0, h - 218 + 1), rng.integers(0, w - 178 + 1)
        folder = root / PHOTOS[i % len(PHOTOS)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(small[top : top + 218, left : left + 178]).save(folder / f"{i:05d}.{fmt}", **({"quality": 95} if fmt == "jpg" else {}))
    return root


class DecodePerItem(Dataset):
    """An on-the-fly folder dataset: each item is read and resized from its file when asked for."""

    def __init__(self, files: list[Path], size: int) -> None:
        self.files, self.size = files, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(read_image(self.files[i], 3, self.size)[0]).permute(2, 0, 1)
        return from_uint8(image), 0


def rate(batches, min_images: int) -> float:
    """images/s over whole passes of `batches` until at least `min_images` were served."""
    seen, start = 0, time.perf_counter()
    while seen < min_images:
        for images, _ in batches:
            seen += len(images)
    return seen / (time.perf_counter() - start)


def dcgan_rate(size: int, batch: int, steps: int) -> float:
    g, d = Generator(100, size, 3, 64), Discriminator(size, 3, 64)
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (g, d))
    real = torch.rand(batch, 3, size, size) * 2 - 1
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()  # the first step warms up the allocator
        fake = g(torch.randn(batch, 100))
        d_loss = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-d(fake)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    return steps * batch / (time.perf_counter() - start)


def streaming(dm: ImageFolderDataModule, shards: Path, batch: int) -> object | None:
    """litdata shards of the folder on local disk (None without the genlab[stream] extra)."""
    try:
        from genlab.data.stream import StreamingImageDataModule, write_shards

        write_shards(dm, str(shards))
    except ConfigError:
        return None
    stream = StreamingImageDataModule(str(shards), image_size=dm.image_size, channels=dm.channels, batch_size=batch)
    stream.setup()
    return stream


def measure(root: Path, cache: Path, size: int, repeats: int, batch: int) -> dict[str, object]:
    dm = ImageFolderDataModule(str(root), image_size=size, cache_dir=str(cache), batch_size=batch, val_fraction=0.05)
    start = time.perf_counter()
    dm.setup()
    prepare_s = time.perf_counter() - start
    resident = ImageFolderDataModule(str(root), image_size=size, cache_dir=str(cache), batch_size=batch, val_fraction=0.05, device_resident=True)
    resident.setup()
    files = dm.files["train"]
    n = len(files)
    stream = streaming(dm, cache / f"shards-{root.name}-{size}", batch)
    results: dict[str, list[float]] = {"decode": [], "prepared": [], "device": [], "stream": [], "dcgan": []}
    for _ in range(repeats):  # interleaved: a busy neighbour slows every path alike
        # PIL decodes on one core: with --threads 1 (the default) this is the decode rate per core.
        results["decode"].append(rate(DataLoader(DecodePerItem(files, size), batch_size=batch, shuffle=True), n))
        results["prepared"].append(rate(dm.train_dataloader(), 20 * n))
        results["device"].append(rate(resident.train_dataloader(), 20 * n))
        if stream is not None:
            results["stream"].append(rate(stream.train_dataloader(), 5 * n))
        results["dcgan"].append(dcgan_rate(size, batch, steps=3))
    results = {k: v for k, v in results.items() if v}
    best = {k: max(v) for k, v in results.items()}
    return {
        "size": size,
        "images": n,
        "prepare_s": round(prepare_s, 2),
        **{f"{k}_img_s": round(v) for k, v in best.items()},
        "prepared_over_decode": round(best["prepared"] / best["decode"], 1),
        "device_over_decode": round(best["device"] / best["decode"], 1),
        "stream_over_decode": round(best["stream"] / best["decode"], 1) if "stream" in best else None,
        "prepared_over_dcgan": round(best["prepared"] / best["dcgan"], 1),
        "decode_over_dcgan": round(best["decode"] / best["dcgan"], 2),
        "all_runs": {k: [round(x) for x in v] for k, v in results.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--format", nargs="+", default=["jpg"], choices=["jpg", "png"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    # One thread by default: on a shared 2-core machine two contended threads make even the uint8 -> float
    # conversion of a batch 30x slower (OpenMP workers wait for each other), which measures the neighbours.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.format:
            root = write_folder(Path(tmp) / fmt, args.images, fmt)
            for size in args.sizes:
                row = measure(root, Path(tmp) / "cache", size, args.repeats, args.batch_size)
                print(json.dumps({"format": fmt, "threads": torch.get_num_threads(), **row}), flush=True)


if __name__ == "__main__":
    main()
