"""Device-resident batches: shards of one global batch per rank, deterministic, resumable."""

from __future__ import annotations

import torch

from genlab.data import DigitsDataModule
from genlab.data.device import DeviceBatches, ShardedBatchSampler


def batches(world_size: int, rank: int, batch_size: int = 4, epoch: int = 0, **kwargs) -> list[torch.Tensor]:
    sampler = ShardedBatchSampler(22, batch_size, seed=7, rank=rank, world_size=world_size, **kwargs)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_ranks_split_each_global_batch_of_one_process():
    one = batches(world_size=1, rank=0, batch_size=8)
    ranks = [batches(world_size=2, rank=r) for r in (0, 1)]
    assert len(one) == len(ranks[0]) == len(ranks[1]) == 2  # 22 // 8, last partial batch dropped
    for i, global_batch in enumerate(one):
        assert torch.equal(torch.cat([ranks[0][i], ranks[1][i]]), global_batch)


def test_an_epoch_never_repeats_an_item_and_the_order_depends_on_seed_and_epoch():
    epoch0 = torch.cat(batches(1, 0))
    assert len(set(epoch0.tolist())) == len(epoch0) == 20
    assert torch.equal(epoch0, torch.cat(batches(1, 0)))  # deterministic
    assert not torch.equal(epoch0, torch.cat(batches(1, 0, epoch=1)))


def test_without_drop_last_the_last_global_batch_wraps_so_every_rank_gets_a_full_batch():
    shards = [batches(world_size=2, rank=r, drop_last=False) for r in (0, 1)]
    assert [len(s) for s in shards] == [3, 3] and all(len(b) == 4 for s in shards for b in s)
    assert set(torch.cat([*shards[0], *shards[1]]).tolist()) == set(range(22))


def test_device_resident_loader_serves_the_same_batches_as_the_dataloader_format():
    dm = DigitsDataModule(image_size=16, batch_size=32, device_resident=True)
    dm.setup()
    loader = dm.train_dataloader()
    assert isinstance(loader, DeviceBatches) and len(loader) == len(dm.dataset("train")) // 32
    images, labels = next(iter(loader))
    reference, _ = dm.dataset("train").__getitems__(loader.sampler.order()[:32].tolist())
    assert images.shape == (32, 1, 16, 16) and images.dtype == torch.float32 and labels.dtype == torch.int64
    assert torch.equal(images, reference)


def test_a_resumed_loader_continues_the_epoch_where_it_stopped():
    dm = DigitsDataModule(image_size=8, batch_size=100, device_resident=True)
    dm.setup()
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(3)
    full = [labels for _, labels in loader]
    stopped = dm.train_dataloader()
    stopped.sampler.set_epoch(3)
    iterator = iter(stopped)
    next(iterator), next(iterator)
    resumed = dm.train_dataloader()
    resumed.load_state_dict(stopped.state_dict())
    rest = [labels for _, labels in resumed]
    assert len(rest) == len(full) - 2 and all(torch.equal(a, b) for a, b in zip(rest, full[2:]))
