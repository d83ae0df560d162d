"""Optimizers are built on their fused kernel unless the config chose otherwise."""

from __future__ import annotations

from functools import partial

import torch

from genlab.nets.dcgan import Generator
from genlab.optim import build_optimizer


def _net() -> Generator:
    torch.manual_seed(0)
    return Generator(latent_dim=8, image_size=8, width=4)


def _train(optimizer_factory, steps: int = 20) -> Generator:
    net = _net()
    optimizer = build_optimizer(optimizer_factory, net.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        loss = net(torch.randn(4, 8, generator=generator)).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net


def test_adam_is_fused_when_the_config_does_not_choose():
    optimizer = build_optimizer(partial(torch.optim.Adam, betas=(0.5, 0.999)), _net().parameters(), lr=2e-4)
    assert optimizer.param_groups[0]["fused"] is True
    assert optimizer.param_groups[0]["betas"] == (0.5, 0.999) and optimizer.param_groups[0]["lr"] == 2e-4


def test_a_configured_fused_or_foreach_is_kept():
    params = list(_net().parameters())
    assert not build_optimizer(partial(torch.optim.Adam, fused=False), params, lr=1e-3).param_groups[0]["fused"]
    foreach = build_optimizer(partial(torch.optim.Adam, foreach=True), params, lr=1e-3).param_groups[0]
    assert foreach["foreach"] is True and not foreach["fused"]


def test_optimizers_without_a_fused_kernel_are_built_as_configured():
    optimizer = build_optimizer(partial(torch.optim.RMSprop, alpha=0.9), _net().parameters(), lr=1e-3)
    assert "fused" not in optimizer.param_groups[0] and optimizer.param_groups[0]["alpha"] == 0.9


def test_fused_training_matches_the_per_tensor_loop_to_float_rounding():
    fused, loop = _train(partial(torch.optim.Adam)), _train(partial(torch.optim.Adam, fused=False))
    for a, b in zip(fused.parameters(), loop.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_checkpoint_written_without_fusion_resumes_without_it():
    """Resume continues the run as it was written: its param_groups, `fused` included, are restored."""
    params = list(_net().parameters())
    old = torch.optim.Adam(params, lr=1e-3)
    resumed = build_optimizer(partial(torch.optim.Adam), params, lr=1e-3)
    resumed.load_state_dict(old.state_dict())
    assert not resumed.param_groups[0]["fused"]
