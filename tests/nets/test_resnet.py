"""ResNet (SNGAN/BigGAN) generator and discriminator, and the SNGAN preset training on digits."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from genlab.checkpoint import load_model
from genlab.configs import config_dir
from genlab.nets.resnet import LAYOUTS, Discriminator, Generator
from genlab.train import build_model, train


@pytest.mark.parametrize("size", sorted(LAYOUTS))
@pytest.mark.parametrize("num_classes", [0, 10])
def test_every_size_maps_noise_to_images_in_range_and_images_to_one_logit(size, num_classes):
    torch.manual_seed(0)
    g, d = Generator(16, size, 3, 4, num_classes=num_classes), Discriminator(size, 3, 4, num_classes=num_classes)
    labels = torch.tensor([1, 7]) if num_classes else None
    images = g(torch.randn(2, 16), labels)
    assert images.shape == (2, 3, size, size) and images.abs().max() <= 1
    assert d(images, labels).shape == (2,)


def test_sngan_widths_at_32_px_are_the_papers():
    """width=64: G 256 channels throughout, D 128 (Miyato et al. 2018, CIFAR-10)."""
    g, d = Generator(128, 32, 3, 64), Discriminator(32, 3, 64)
    assert {b.conv1.out_channels for b in g.blocks} == {256} and len(g.blocks) == 3
    assert [b.conv1.out_channels for b in d.blocks] == [128] * 4 and [b.down for b in d.blocks] == [True, True, False, False]


def test_an_unsupported_size_fails_naming_the_accepted_ones():
    with pytest.raises(ValueError, match="image_size=20: ResNet GAN nets take 16, 28, 32, 48, 64, 128 px"):
        Generator(image_size=20)


def test_conditional_batchnorm_and_projection_make_both_nets_depend_on_the_label():
    torch.manual_seed(0)
    g, d = Generator(16, 16, 1, 4, num_classes=10), Discriminator(16, 1, 4, num_classes=10)
    with torch.no_grad():
        g.blocks[0].bn1.scale.weight.normal_(1, 0.5)  # initialised to 1 for every class
    g.eval()
    z = torch.randn(1, 16).repeat(2, 1)
    a, b = g(z, torch.tensor([0, 1]))
    assert not torch.allclose(a, b)
    x = torch.randn(1, 1, 16, 16).repeat(2, 1, 1, 1)
    scores = d(x, torch.tensor([0, 1]))
    assert not torch.allclose(scores[0], scores[1])


def test_sngan_preset_builds_the_published_recipe(compose_cfg):
    model = build_model(compose_cfg("model=sngan", "model.generator.width=8", "model.discriminator.width=8"))
    assert (model.loss_name, model.n_critic, model.lr_g, model.lr_d) == ("hinge", 5, 2e-4, 2e-4)
    assert model.generator_ema is not None and model.generator_ema.decay == 0.9999
    opt_g, opt_d = model.configure_optimizers()
    assert opt_g.defaults["betas"] == opt_d.defaults["betas"] == (0.0, 0.9)
    assert type(model.discriminator).__module__ == "genlab.nets.resnet"


def test_a_reduced_sngan_trains_on_digits(compose_cfg, tmp_path, one_thread):
    """2 x 40 batches (16 G steps) of a narrow conditional SNGAN: the critic learns to separate real
    from generated digits (hinge D loss falls steadily), every weight stays finite and the
    checkpoint's EMA generator samples images."""
    cfg = compose_cfg(
        "model=sngan",
        "model.generator.width=8",
        "model.discriminator.width=8",
        "model.generator.num_classes=10",
        "dataset.batch_size=32",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=40",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "callbacks.sample_metrics=null",
        "callbacks.sample_grid=null",
        "model.monitor=null",
    )
    train(cfg)
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    losses = [float(r["train/loss_d"]) for r in rows if r.get("train/loss_d")]
    assert len(losses) == 80 and all(math.isfinite(v) for v in losses)
    assert sum(losses[:5]) / 5 > 1.4 and sum(losses[-10:]) / 10 < 0.8, losses  # measured: 1.62 -> 0.43
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    g_state, d_state = torch.load(ckpt, weights_only=True)["optimizer_states"]
    assert (g_state["state"][0]["step"].item(), d_state["state"][0]["step"].item()) == (16, 80)  # n_critic 5
    model = load_model(ckpt)
    assert all(torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point())
    samples = model.sample(10)
    assert samples.shape == (10, 1, 16, 16) and samples.std() > 0.05


def test_the_sngan_cifar10_experiment_composes_with_the_cifar10_dataset(compose_cfg):
    if not (config_dir() / "dataset" / "cifar10.yaml").is_file():
        pytest.skip("conf/dataset/cifar10.yaml not there yet")
    cfg = compose_cfg("experiment=sngan_cifar10", "metrics.inception_weights=/nonexistent")
    assert cfg.model.generator._target_ == "genlab.nets.resnet.Generator" and cfg.model.discriminator.spectral_norm
    assert (cfg.model.loss, cfg.model.n_critic, cfg.dataset.image_size, cfg.trainer.max_epochs) == ("hinge", 5, 32, 640)
