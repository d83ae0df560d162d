"""task=interpolate: GAN rows slerp between latent draws (staying at typical norms, unlike a straight
line), VAE rows go between the posterior means of two real images; PNG + npz; other families refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.errors import ConfigError
from genlab.sample import sample
from genlab.tasks.interpolate import lerp, slerp
from tests.tasks.checkpoints import build, save

GAN = ["model=gan", "dataset=digits", "model.generator.width=8", "model.discriminator.width=8"]
VAE = ["model=vae", "dataset=digits", "model.encoder.width=8", "model.decoder.width=8"]


def run(compose_cfg, ckpt, out, *extra):
    return sample(compose_cfg(f"ckpt_path={ckpt}", f"out={out}", "task=interpolate", *extra, config_name="sample"))


def test_slerp_keeps_latents_at_the_typical_norm_where_a_straight_line_sags():
    d = 64
    a, b = torch.randn(200, d, generator=torch.Generator().manual_seed(0)), torch.randn(200, d, generator=torch.Generator().manual_seed(1))
    t = torch.linspace(0, 1, 9)
    mid_slerp, mid_lerp = slerp(a, b, t)[:, 4].norm(dim=1), lerp(a, b, t)[:, 4].norm(dim=1)
    typical = math.sqrt(d)
    assert abs(mid_slerp.mean() - typical) < 0.05 * typical
    assert abs(mid_lerp.mean() - typical / math.sqrt(2)) < 0.05 * typical  # the baseline: sqrt(d / 2)
    torch.testing.assert_close(slerp(a, b, t)[:, 0], a)
    torch.testing.assert_close(slerp(a, b, t)[:, -1], b)


def test_gan_interpolation_writes_a_row_per_pair_from_one_draw_to_the_other(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *GAN), tmp_path / "g.ckpt")
    paths = run(compose_cfg, ckpt, tmp_path / "out", "num_samples=3", "steps=5")
    saved = np.load(paths["samples"])
    assert saved["images"].shape == (15, 16, 16, 1) and saved["latents"].shape == (15, 64)
    assert paths["grid"].is_file()
    rows = saved["latents"].reshape(3, 5, 64)
    norms = np.linalg.norm(rows, axis=2)
    assert np.allclose(norms[:, 2], (norms[:, 0] + norms[:, -1]) / 2, rtol=0.15)  # no sag in the middle


def test_vae_interpolation_starts_and_ends_at_the_posterior_means_of_the_given_images(compose_cfg, tmp_path):
    model = build(compose_cfg, *VAE)
    ckpt = save(model, tmp_path / "v.ckpt")
    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 1), dtype=np.uint8)
    np.savez(tmp_path / "in.npz", images=images)
    paths = run(compose_cfg, ckpt, tmp_path / "out", f"input={tmp_path / 'in.npz'}", "num_samples=2", "steps=4")
    saved = np.load(paths["samples"])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        mu = model.eval().encode(x)[0]
    latents = torch.from_numpy(saved["latents"]).view(2, 4, -1)
    torch.testing.assert_close(latents[:, 0], mu[0::2], atol=1e-5, rtol=0)
    torch.testing.assert_close(latents[:, -1], mu[1::2], atol=1e-5, rtol=0)
    np.testing.assert_array_equal(saved["endpoints"], images)


def test_a_family_that_cannot_interpolate_gets_one_sentence(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, "experiment=pixelrnn_digits", "model.hidden=4", "model.layers=1"), tmp_path / "r.ckpt")
    with pytest.raises(ConfigError, match="task=interpolate: RNN models cannot do this \\(families that can: GAN, ConditionalVAE, VAE\\)"):
        run(compose_cfg, ckpt, tmp_path / "out")


def test_conditional_vae_interpolation_decodes_each_row_with_one_class(compose_cfg, tmp_path):
    cvae = ["model=cvae", "dataset=digits", "model.encoder.width=8", "model.decoder.width=8"]
    ckpt = save(build(compose_cfg, *cvae), tmp_path / "c.ckpt")
    paths = run(compose_cfg, ckpt, tmp_path / "out", "num_samples=3", "steps=4", "label=7")  # endpoints: the test split, with its labels
    saved = np.load(paths["samples"])
    assert saved["images"].shape[0] == 12 and saved["labels"].tolist() == [7, 7, 7]
    np.testing.assert_array_equal(saved["endpoints"].shape, (6, 16, 16, 1))
    np.savez(tmp_path / "in.npz", images=saved["endpoints"])
    with pytest.raises(ConfigError, match=r"^task=interpolate: the conditional VAE needs each image's class"):
        run(compose_cfg, ckpt, tmp_path / "out2", f"input={tmp_path / 'in.npz'}", "num_samples=3")
