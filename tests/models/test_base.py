"""Shared model machinery: the warmed-up EMA."""

from __future__ import annotations

import pickle

import torch
from torch.optim.swa_utils import AveragedModel

from genlab.models.ema import EMA, WarmupEMAUpdate


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


def test_ema_of_a_spectral_norm_generator_samples_with_unit_spectral_norm_weights():
    """The EMA copy samples in eval mode, where torch's spectral norm divides by u.W v without a
    power iteration: averaging u and v like other buffers made that sigma too small (u and v
    shorter than unit vectors, aligned with the live weights). The copy's effective weights must
    have largest singular value 1, as the live net's do."""
    from genlab.nets.dcgan import Generator

    torch.manual_seed(0)
    net = Generator(16, 16, 1, 8, spectral_norm=True)
    ema = EMA(net, decay=0.999)
    originals = [p for name, p in net.named_parameters() if name.endswith("original")]
    for _ in range(200):  # a live net whose weights drift (and rotate) like a trained one's
        with torch.no_grad():
            for p in originals:
                p.add_(0.05 * p.std() * torch.randn_like(p))
        net(torch.randn(4, 16))  # training mode: the live power iteration runs
        ema.update(net)
    ema.module.eval()
    layers = [m for m in ema.module.modules() if hasattr(m, "parametrizations")]
    assert len(layers) == 3
    for layer in layers:
        norm = layer.parametrizations.weight[0]
        effective = norm._reshape_weight_to_matrix(layer.weight)  # eval: no power iteration here
        assert abs(torch.linalg.matrix_norm(effective, ord=2).item() - 1.0) < 0.01
        assert abs(norm._u.norm().item() - 1.0) < 1e-5 and abs(norm._v.norm().item() - 1.0) < 1e-5


def test_ema_update_equals_averaged_models_own_update_bitwise_across_a_reload():
    """EMA.update keeps its update count on the host (no device read per step) and pairs tensors once;
    the averages and the count must be exactly torch's AveragedModel.update_parameters', also after
    the EMA is reloaded from a state dict saved mid-way."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(), torch.nn.Linear(8, 1))
    ours = EMA(net, decay=0.99)
    reference = AveragedModel(net, multi_avg_fn=WarmupEMAUpdate(0.99), use_buffers=True)
    for step in range(6):
        net(torch.randn(4, 1, 4, 4))  # moves the BatchNorm statistics and num_batches_tracked
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        ours.update(net)
        reference.update_parameters(net)
        if step == 2:
            reloaded = EMA(net, decay=0.99)
            reloaded.load_state_dict(ours.state_dict())
            ours = reloaded
    for mine, theirs in zip(ours.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs)


def test_ema_follows_tensors_that_moving_the_network_replaced():
    """`.to()` (here a dtype change) replaces a network's buffers and parameters' data: the pairs,
    worked out at the first update, must average the new tensors, not the old ones."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = EMA(net, decay=0.9)
    ema.update(net)
    net.double(), ema.double()
    net(torch.randn(8, 2, dtype=torch.float64) + 3)  # new running statistics, in the new buffers
    for _ in range(50):
        ema.update(net)
    assert ema.module[1].running_mean.dtype == torch.float64
    assert torch.allclose(ema.module[1].running_mean, net[1].running_mean)
    assert ema.module[1].num_batches_tracked.item() == 1


def test_ema_averages_a_tied_parameter_once_and_repairs_for_another_network():
    """A parameter shared by two layers is averaged once per update (as parameters() lists it once);
    updating from a different network of the same architecture pairs its tensors, not the first's."""
    first = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.Linear(2, 2, bias=False))
    first[1].weight = first[0].weight
    ema = EMA(first, decay=0.5)
    reference = AveragedModel(first, multi_avg_fn=WarmupEMAUpdate(0.5), use_buffers=True)
    second = EMA(first, decay=0.5).module  # a copy: the same tie, other tensors
    with torch.no_grad():
        second[0].weight.fill_(1.0)
    for net in (first, first, second, second):
        ema.update(net)
        reference.update_parameters(net)
    assert torch.equal(ema.module[0].weight, reference.module[0].weight)
    assert ema.module[0].weight is ema.module[1].weight


def test_ema_state_dict_holds_the_update_count():
    ema = EMA(torch.nn.Linear(2, 2), decay=0.9)
    for _ in range(3):
        ema.update(torch.nn.Linear(2, 2))
    assert ema.state_dict()["n_averaged"].item() == 3
    assert pickle.loads(pickle.dumps(ema)).state_dict()["n_averaged"].item() == 3
