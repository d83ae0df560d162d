"""The in-memory DataModule's training loader: epoch-seeded order, no draws from the global RNG."""

from __future__ import annotations

import torch

from genlab.data import DigitsDataModule
from genlab.data.base import epoch_sampler


def test_epoch_order_depends_on_seed_and_epoch_alone():
    """What makes a resume at an epoch's end draw the uninterrupted run's order."""

    def order(epoch: int, seed: int = 0) -> list[int]:
        sampler = epoch_sampler(range(50), seed, trainer=None)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(3) == order(3) and sorted(order(3)) == list(range(50))
    assert order(3) != order(4) and order(3) != order(3, seed=1)


def test_the_order_is_drawn_at_the_first_batch_after_set_epoch():
    """torchdata creates the sampler iterator with the loader's iterator, which Lightning may do before
    it calls set_epoch (on resume): the order must still be the new epoch's."""
    loader = DigitsDataModule(batch_size=8).train_dataloader()
    iterator = iter(loader)
    loader.sampler.set_epoch(5)
    first = next(iterator)[1]
    fresh = DigitsDataModule(batch_size=8).train_dataloader()
    fresh.sampler.set_epoch(5)
    assert torch.equal(first, next(iter(fresh))[1])


def test_making_and_iterating_the_training_loader_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    loader = DigitsDataModule(batch_size=8).train_dataloader()
    next(iter(loader))
    assert torch.equal(torch.get_rng_state(), state)
