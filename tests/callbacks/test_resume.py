"""RNG states travel in checkpoints (weights_only-loadable) and come back before the first resumed batch."""

from __future__ import annotations

import random

import numpy as np
import torch

from genlab.callbacks.resume import RNGStateCallback, rng_state, set_rng_state


def draws() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    torch.save({"rng": rng_state()}, tmp_path / "state.ckpt")
    expected = draws()
    draws()  # move every generator on
    set_rng_state(torch.load(tmp_path / "state.ckpt", weights_only=True)["rng"])
    assert draws() == expected


def test_the_callback_restores_this_ranks_state_at_the_first_training_batch_only():
    callback = RNGStateCallback()
    state = callback.state_dict()
    expected = draws()
    callback.load_state_dict(state)

    class Trainer:
        global_rank, world_size = 0, 1

    callback.on_train_batch_start(Trainer(), None, None, 0)
    assert draws() == expected
    callback.on_train_batch_start(Trainer(), None, None, 1)  # later batches keep drawing on
    assert draws() != expected
