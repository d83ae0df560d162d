"""Under DDP (2 CPU processes, gloo) every rank gets the single-process result on the same samples."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from genlab.data import DigitsDataModule
from genlab.images import from_uint8
from genlab.metrics import MetricStream, RandomCNNFeatures, SampleMetrics

NUM_FAKE = 700  # 6 batches of 128: ranks get 3 each, the last one short


def noisy_digits_stream(dm: DigitsDataModule) -> MetricStream:
    """Generated image i = train image i plus noise drawn from the per-batch generator."""
    train = dm.dataset("train").images

    def fake(indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images = from_uint8(train[indices % len(train)])
        return (images + 0.3 * torch.randn(images.shape, generator=generator)).clamp(-1, 1)

    return MetricStream("val", real=lambda: dm.dataset("val").images, fake=fake, num_fake=NUM_FAKE)


def evaluate(cache_dir: str) -> dict[str, float]:
    dm = DigitsDataModule(image_size=16)
    metrics = SampleMetrics(RandomCNNFeatures().build(dm, "digits", None), "digits", cache_dir=cache_dir, batch_size=128, kid_subset_size=100)
    stream = noisy_digits_stream(dm)
    return metrics.compute_stream(stream, metrics.reference_features(stream))


def worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        Path(out, f"rank{rank}.json").write_text(json.dumps(evaluate(str(Path(out, "cache")))))
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_equal_one_process(tmp_path: Path) -> None:
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    single = evaluate(str(tmp_path / "cache_single"))
    for rank in (0, 1):
        distributed = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert distributed.keys() == single.keys()
        for name, value in single.items():
            assert distributed[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
