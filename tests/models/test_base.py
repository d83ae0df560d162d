"""Shared model machinery: the warmed-up EMA."""

from __future__ import annotations

import pickle

import torch

from genlab.models.base import EMA


def test_ema_starts_as_a_copy_and_follows_with_warmup():
    net = torch.nn.Linear(3, 3)
    ema = EMA(net, decay=0.999)
    ema.update(net)  # first update copies
    assert torch.equal(ema.module.weight, net.weight)
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)  # t=1: decay min(0.999, 2/11) -> moves 9/11 of the way
    moved = (ema.module.weight - (net.weight - 1.0)).mean().item()
    assert abs(moved - 9 / 11) < 1e-6


def test_ema_averages_batchnorm_statistics_and_takes_no_gradients():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    ema = EMA(net, decay=0.9)
    net(torch.randn(8, 1, 4, 4) + 5)
    ema.update(net)
    assert torch.allclose(ema.module[1].running_mean, net[1].running_mean)
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_ema_is_picklable_for_spawned_processes():
    ema = EMA(torch.nn.Linear(2, 2), decay=0.99)
    assert pickle.loads(pickle.dumps(ema)).decay == 0.99
