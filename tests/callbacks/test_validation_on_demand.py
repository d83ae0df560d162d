"""A GAN's validation computes nothing itself: a fit validates at the epochs a callback needs it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl

from genlab.callbacks import ModelCheckpoint, SampleGrid, progress_bar
from genlab.dispatch import validation_needed
from genlab.train import train


def fit_gan(compose_cfg, tmp_path, *overrides: str) -> list[int]:
    """The default GAN with tiny nets for 5 epochs, val/fid every 3 (at 0, 2 and the last, 4);
    returns the epochs at which validation ended."""
    cfg = compose_cfg(
        "~recipe",
        "model.generator.width=8",
        "model.discriminator.width=8",
        "metrics.every_n_epochs=3",
        "metrics.num_samples=200",
        "trainer.max_epochs=5",
        "trainer.limit_train_batches=4",
        "logger=[]",
        "+callbacks.validation_log._target_=tests.spies.ValidationLog",
        f"+callbacks.validation_log.path={tmp_path / 'validations.txt'}",
        *overrides,
    )
    train(cfg)
    return [int(line) for line in (tmp_path / "validations.txt").read_text().split()]


def test_a_gan_fit_validates_only_at_the_epochs_its_sample_metrics_run(compose_cfg, tmp_path, one_thread):
    assert fit_gan(compose_cfg, tmp_path) == [0, 2, 4]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == [0, 2, 4]
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file() and (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_a_callback_that_does_not_say_what_it_needs_gets_every_validation(compose_cfg, tmp_path, one_thread):
    assert fit_gan(compose_cfg, tmp_path, "+callbacks.validation_log.declared=false") == [0, 1, 2, 3, 4]


class UndeclaredValidationHook(pl.Callback):
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        pass  # a body that does something to Lightning: it is called


@pytest.mark.parametrize(
    ("callbacks", "needed"),
    [
        ([], False),
        ([progress_bar(), SampleGrid(dirpath="unused")], False),  # the bar declares; the grid has no validation hook
        ([pl.Callback()], False),  # Callback's empty hooks do nothing
        ([UndeclaredValidationHook()], True),
    ],
    ids=["none", "declared-or-no-hook", "empty-hooks", "undeclared-hook"],
)
def test_validation_is_needed_when_a_callback_says_so_or_defines_a_validation_hook_without_saying(callbacks, needed):
    assert validation_needed(SimpleNamespace(callbacks=callbacks)) is needed


def test_a_checkpoint_that_acts_after_validations_needs_each_one():
    checkpoint = ModelCheckpoint(dirpath="unused", monitor="val/fid")
    every_epoch = SimpleNamespace(check_val_every_n_epoch=1, num_val_batches=[1], val_check_interval=1.0)
    assert checkpoint.needs_validation(every_epoch) is False  # it checks at the training epoch's end
    assert checkpoint.needs_validation(SimpleNamespace(**(vars(every_epoch) | {"check_val_every_n_epoch": 2}))) is True
