"""The GAN encoder (`model/encoder=dcgan`) under 2-process DDP (gloo): ranks stay identical, and E, G
and D end where one process with the same global batch ends (E's own DDP wrapper averages its
gradients; each rank draws its slice of the global batch's noise for E's step)."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from genlab.train import build_model
from tests.ddp_runs import two_processes_and_one

# The plain GAN (~recipe: the digits recipe's DiffAugment draws differ per rank by design), short and
# quiet; norm-free G, D and E (no batch statistics), device-resident data so global batches line up.
ARGS = [
    "~recipe",
    "debug=limit",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "logger=[]",
    "callbacks.sample_metrics=null",
    "callbacks.sample_grid=null",
    "model.monitor=null",
    "trainer.enable_progress_bar=false",
    "model/encoder=dcgan",
    "model.encoder.norm=null",
    "model.discriminator.norm=null",
    "+model.generator.norm=null",
    "dataset.device_resident=true",
    # Plain SGD with large steps (E takes optimizer_g's settings at lr_e): big updates, and no Adam
    # normalisation to amplify float summation-order noise.
    *[f"model.optimizer_{n}._target_=torch.optim.SGD" for n in "gd"],
    *[f"~model.optimizer_{n}.betas" for n in "gd"],
    "model.lr_g=0.05",
    "model.lr_d=0.05",
    "model.lr_e=0.05",
]


def initial_encoder(compose_cfg) -> dict[str, torch.Tensor]:
    """E as genlab-train initialises it: seeded, then the dataset and the model built in train()'s order."""
    cfg = compose_cfg(*ARGS, "trainer=cpu")
    pl.seed_everything(cfg.seed)
    instantiate(cfg.dataset)
    return {f"encoder.{k}": v for k, v in build_model(cfg).encoder.state_dict().items()}


@pytest.mark.slow  # a 2-process and a 1-process run: 19-22 s on the shared 2-core machine
def test_the_gan_encoder_trained_by_two_processes_matches_one_process_with_the_same_global_batch(cli, compose_cfg, tmp_path):
    distributed, single = two_processes_and_one(cli, tmp_path, ARGS)
    encoder_keys = [key for key in single if key.startswith("encoder.")]
    assert encoder_keys and not any(".module." in key for key in encoder_keys)  # saved unwrapped
    initial = initial_encoder(compose_cfg)
    assert any(not torch.equal(initial[key], single[key]) for key in encoder_keys if key.endswith("weight"))  # E trained
    for key, value in single.items():
        torch.testing.assert_close(distributed[key], value, rtol=1e-5, atol=1e-7, msg=key)
