"""task=complete: visible pixels come back exactly, PixelRNN's completion is its exact raster-order
conditional, and bad input (a family that cannot complete, a mask or images of the wrong size) is
refused in one sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import ConfigError
from genlab.sample import sample
from tests.tasks.checkpoints import build, save

RNN = ["experiment=pixelrnn_digits", "model.hidden=8", "model.layers=1"]
VAE = ["model=vae", "dataset=digits", "dataset.image_size=8", "model.encoder.width=8", "model.decoder.width=8"]
CVAE = ["model=cvae", "dataset=digits", "model.encoder.width=8", "model.decoder.width=8"]
GAN = ["model=cgan", "dataset=digits", "model.generator.width=8", "model.discriminator.width=8"]


def run(compose_cfg, ckpt, out, *extra):
    return sample(compose_cfg(f"ckpt_path={ckpt}", f"out={out}", *extra, config_name="sample"))


@pytest.mark.parametrize("family", [RNN, VAE, GAN], ids=["pixelrnn", "vae", "cgan"])
@pytest.mark.parametrize("mask", ["bottom_half", "center", "random"])
def test_completion_returns_every_visible_pixel_unchanged(compose_cfg, tmp_path, family, mask, one_thread):
    ckpt = save(build(compose_cfg, *family), tmp_path / "m.ckpt")
    run(compose_cfg, ckpt, tmp_path / "out", "task=complete", f"mask={mask}", "num_samples=6", "iterations=3")
    with np.load(tmp_path / "out" / "samples.npz") as saved:
        images, inputs, masks = saved["images"], saved["inputs"], saved["masks"].astype(bool)
    assert images.shape == inputs.shape == masks.shape and 0 < masks.mean() < 1
    np.testing.assert_array_equal(images[masks], inputs[masks])
    assert (images[~masks] != inputs[~masks]).any()  # and the gaps are filled with something else
    assert saved_labels_of(tmp_path / "out").shape == (6,)


def saved_labels_of(out):
    with np.load(out / "samples.npz") as saved:
        return saved["labels"]


def test_pixelrnn_completion_is_the_exact_conditional_of_the_missing_rows_given_the_visible_ones(compose_cfg, one_thread):
    model = build(compose_cfg, *RNN)
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    known = torch.zeros_like(x, dtype=torch.bool)
    known[:, :, :4] = True
    u = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    # The row-state sampler with the visible pixels fed in draws what re-running the whole network on
    # the canvas does, pixel by pixel: p(x_ij | all pixels before it), the visible ones included.
    fast = model.net.sample(u, given=x, known=known)
    naive = model.net.sample_naive(u, given=x, known=known)
    torch.testing.assert_close(fast, naive, atol=0, rtol=0)
    # What it draws depends on the visible rows (it conditions on them), not only on the noise.
    other = model.net.sample(u, given=-x, known=known)
    assert not torch.equal(fast[:, :, 4:], other[:, :, 4:])


def test_a_family_that_cannot_complete_gets_one_sentence(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, "model=cyclegan", "dataset=textures"), tmp_path / "c.ckpt")
    with pytest.raises(ConfigError, match="task=complete: CycleGAN models cannot do this \\(families that can: RNN, ConditionalVAE, VAE, GAN\\)"):
        run(compose_cfg, ckpt, tmp_path / "out", "task=complete", f"input={tmp_path}")


def test_a_mask_of_the_wrong_size_is_refused_naming_both_sizes(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *VAE), tmp_path / "v.ckpt")
    np.save(tmp_path / "mask.npy", np.ones((16, 16), dtype=np.uint8))
    with pytest.raises(ConfigError, match="it is 16x16 but the model's images are 8x8"):
        run(compose_cfg, ckpt, tmp_path / "out", "task=complete", f"mask={tmp_path / 'mask.npy'}", "num_samples=2")


def test_a_mask_image_of_the_right_size_keeps_its_nonzero_pixels(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *VAE), tmp_path / "v.ckpt")
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[:, :3] = 255
    from PIL import Image

    Image.fromarray(mask).save(tmp_path / "mask.png")
    run(compose_cfg, ckpt, tmp_path / "out", "task=complete", f"mask={tmp_path / 'mask.png'}", "num_samples=2", "iterations=2")
    with np.load(tmp_path / "out" / "samples.npz") as saved:
        np.testing.assert_array_equal(saved["masks"][0, :, :, 0], mask > 0)


@pytest.mark.parametrize(
    ("shape", "message"), [((2, 8, 8, 3), "3 x 8 x 8 \\(C x H x W\\) but the model's are 1 x 8 x 8"), ((2, 16, 16), "1 x 16 x 16")]
)
def test_input_images_of_another_size_or_channel_count_are_refused(compose_cfg, tmp_path, shape, message):
    ckpt = save(build(compose_cfg, *VAE), tmp_path / "v.ckpt")
    np.savez(tmp_path / "in.npz", images=np.zeros(shape, dtype=np.uint8))
    with pytest.raises(ConfigError, match=message):
        run(compose_cfg, ckpt, tmp_path / "out", "task=complete", f"input={tmp_path / 'in.npz'}")


def test_an_unknown_mask_name_is_refused_with_the_names_accepted(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *VAE), tmp_path / "v.ckpt")
    with pytest.raises(ConfigError, match="mask=top: must be one of bottom_half, right_half, center, random"):
        run(compose_cfg, ckpt, tmp_path / "out", "task=complete", "mask=top", "num_samples=2")


def test_the_conditional_vae_refuses_to_complete_images_whose_class_it_is_not_given(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *CVAE), tmp_path / "c.ckpt")
    np.savez(tmp_path / "in.npz", images=np.zeros((2, 16, 16, 1), dtype=np.uint8))
    with pytest.raises(ConfigError, match=r"^task=complete: the conditional VAE needs each image's class: use the test split"):
        run(compose_cfg, ckpt, tmp_path / "out", "task=complete", f"input={tmp_path / 'in.npz'}", "num_samples=2")


@pytest.mark.parametrize("source", ["test_split", "label"])
def test_the_conditional_vae_completes_with_the_known_or_given_class(compose_cfg, tmp_path, source, one_thread):
    ckpt = save(build(compose_cfg, *CVAE), tmp_path / "c.ckpt")
    np.savez(tmp_path / "in.npz", images=np.full((3, 16, 16, 1), 200, dtype=np.uint8))
    extra = ["num_samples=3", "iterations=2"] + ([f"input={tmp_path / 'in.npz'}", "label=4"] if source == "label" else [])
    run(compose_cfg, ckpt, tmp_path / "out", "task=complete", *extra)
    with np.load(tmp_path / "out" / "samples.npz") as saved:
        masks = saved["masks"].astype(bool)
        np.testing.assert_array_equal(saved["images"][masks], saved["inputs"][masks])
        assert saved["labels"].shape == (3,) and (source != "label" or (saved["labels"] == 4).all())


def test_a_conditional_gan_given_the_class_searches_that_class_only(compose_cfg, one_thread):
    from genlab.tasks.complete import latent_search

    model = build(compose_cfg, *GAN)
    x, labels = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([3, 1, 4, 1])
    known = torch.ones_like(x, dtype=torch.bool)
    _, _, chosen = latent_search(model, x, known, torch.Generator().manual_seed(0), iterations=2, restarts=3, labels=labels)
    assert torch.equal(chosen.cpu(), labels)
    _, _, free = latent_search(model, x, known, torch.Generator().manual_seed(0), iterations=0, restarts=3)
    assert free.shape == (4,)  # without labels every class was tried (at least K restarts)
