"""DiffAugment: what each policy does to an image, gradients to G, the same policy on real and fake."""

from __future__ import annotations

from functools import partial

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from genlab.augment import DiffAugment
from genlab.data import DigitsDataModule
from genlab.errors import ConfigError
from genlab.models.gan import GAN
from genlab.nets.dcgan import Discriminator, Generator


@pytest.mark.parametrize("policy", ["", None, [], " , "])
def test_an_empty_policy_is_the_identity(policy):
    x = torch.randn(4, 3, 8, 8)
    assert DiffAugment(policy)(x) is x


def test_an_unknown_policy_is_a_config_error_naming_the_accepted_ones():
    with pytest.raises(ConfigError, match="model.diffaugment=translation,flip: unknown policy flip; accepted: color, translation, cutout"):
        DiffAugment("translation,flip")


def test_a_list_and_a_comma_separated_string_give_the_same_policy():
    assert DiffAugment(["translation", "cutout"]).policy == DiffAugment("translation, cutout").policy == ("translation", "cutout")


def test_translation_shifts_each_image_by_at_most_an_eighth_with_zero_fill():
    torch.manual_seed(0)
    x = torch.rand(32, 2, 16, 16) + 1  # no zeros in the input
    out = DiffAugment("translation")(x)
    shifts = set()
    for img, src in zip(out, x):
        found = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(img, F.pad(src, (2, 2, 2, 2))[:, 2 - dy : 18 - dy, 2 - dx : 18 - dx])
        ]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 5  # drawn per image


def test_cutout_zeroes_one_square_of_half_the_side_per_image():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 16, 16) + 1
    out = DiffAugment("cutout")(x)
    for img, src in zip(out, x):
        zero = img[0] == 0
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert 4 <= len(rows) <= 8 and 4 <= len(cols) <= 8  # 8 x 8, clipped at the border to >= 4
        assert zero.sum() == len(rows) * len(cols)  # one rectangle
        assert torch.equal(img[:, ~zero], src[:, ~zero])  # the rest untouched


def test_color_changes_brightness_and_contrast_per_image_and_keeps_shapes():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 8, 8) * 2 - 1
    out = DiffAugment("color")(x)
    assert out.shape == x.shape
    offsets = (out - x).mean(dim=(1, 2, 3))
    assert offsets.std() > 0.05  # one random draw per image, not per batch


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_gradients_flow_through_the_augmentation_to_the_generator(policy):
    torch.manual_seed(0)
    generator, critic = Generator(8, 16, 1, 8), Discriminator(16, 1, 8)
    critic(DiffAugment(policy)(generator(torch.randn(8, 8)))).mean().backward()
    grads = [p.grad for p in generator.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(g.abs().sum() > 0 for g in grads)


class RecordingCritic(nn.Module):
    """A DCGAN D that keeps every batch it is shown, tagged with whether D's optimizer is on."""

    def __init__(self) -> None:
        super().__init__()
        self.net = Discriminator(16, 1, 8)
        self.seen: list[tuple[bool, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.seen.append((next(self.net.parameters()).requires_grad, x.detach().clone()))
        return self.net(x, labels)


@pytest.mark.parametrize("policy", ["cutout", ""])
def test_real_and_fake_are_augmented_alike_in_both_players_steps(policy, one_thread):
    """Cutout leaves exact zeros, which neither real digits (background -1) nor tanh samples have:
    every batch D sees, real and fake, in its own step and in G's, carries one cut-out square per
    image with the policy on, none with it off."""
    adam = partial(torch.optim.Adam, betas=(0.5, 0.999))
    critic = RecordingCritic()
    model = GAN(Generator(8, 16, 1, 8), critic, adam, adam, ema_decay=0, diffaugment=policy)
    trainer = pl.Trainer(accelerator="cpu", max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False, limit_val_batches=0)
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=16))
    d_step, g_step = [x for on, x in critic.seen if on], [x for on, x in critic.seen if not on]
    assert len(d_step) == 4 and len(g_step) == 2  # 2 batches: (real, fake) in D's step, fake in G's
    for x in d_step + g_step:
        zeros = (x == 0).flatten(1).sum(1)
        assert (zeros >= 16).all() if policy else (zeros == 0).all()


@pytest.mark.slow
def test_diffaugment_beats_no_augmentation_on_a_tenth_of_the_digits(cache_dir):
    """144 training digits, 6,000 batches a run (1,500 epochs), seeds 0-2 with and without
    translation DiffAugment: its mean classifier FID against the validation split is at least 5%
    lower, and it wins in at least two of the three seeds (benchmarks/diffaugment_small.py). One
    seed is not evidence here: a float-rounding change alone moved seed 0's pair from 13.7 vs 17.4
    to 13.8 vs 14.6. Measured over seeds 0-5 (benchmarks/README.md): 8% lower mean, 5 wins of 6;
    seeds 0-2 give 10% and 3 wins, seeds 3-5 6% and 2 wins. Six runs, two at a time on one thread
    each: about 6.5 min on 2 cores."""
    from benchmarks.diffaugment_small import score_runs

    seeds = (0, 1, 2)
    runs = [(policy, seed) for seed in seeds for policy in ("", "translation")]
    scores = score_runs(runs, 0.1, 6000, str(cache_dir), processes=2)
    assert all(s["train_images"] == 144 for s in scores)
    plain, augmented = [s["fid"] for s in scores[0::2]], [s["fid"] for s in scores[1::2]]
    assert sum(augmented) < 0.95 * sum(plain), (augmented, plain)
    assert sum(a < p for a, p in zip(augmented, plain)) >= 2, (augmented, plain)
