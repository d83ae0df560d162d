"""task=reconstruct and the GAN encoder (`model/encoder=dcgan`): pairs and latents are written, the
encoder trains beside G and D and comes back from the checkpoint (resume included), and a GAN
without an encoder or a family that cannot reconstruct is refused in one sentence."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
import torch

from genlab.checkpoint import load_model
from genlab.errors import ConfigError
from genlab.sample import sample
from genlab.train import train
from tests.conftest import REPO
from tests.tasks.checkpoints import build, save

SMALL = ["dataset=digits", "dataset.image_size=8", "model.generator.width=8", "model.discriminator.width=8"]
GAN_E = ["model=gan", *SMALL, "model/encoder=dcgan", "model.encoder.width=8"]
CGAN_E = ["model=cgan", *SMALL, "model/encoder=dcgan", "model.encoder.width=8"]
# SNGAN's config has no encoder slot in its defaults list: the encoder is appended (`+`). ResNet nets
# take 16 px at the smallest.
SNGAN_E = ["model=sngan", *SMALL, "dataset.image_size=16", "model/encoder=dcgan", "model.encoder.width=8"]
BARE = ["~callbacks.sample_metrics", "~callbacks.sample_grid", "model.monitor=null", "trainer.enable_progress_bar=false"]
BARE += ["trainer.enable_model_summary=false", "trainer.limit_val_batches=1"]
QUIET = [*BARE, "logger=[]", "trainer.limit_train_batches=3"]


def run(compose_cfg, ckpt, out, *extra):
    return sample(compose_cfg(f"ckpt_path={ckpt}", f"out={out}", *extra, config_name="sample"))


@pytest.mark.parametrize("family", [GAN_E, CGAN_E, SNGAN_E], ids=["gan", "cgan", "sngan"])
def test_reconstruct_writes_input_reconstruction_pairs_and_their_latent_codes(compose_cfg, tmp_path, family, one_thread):
    model = build(compose_cfg, *family)
    ckpt = save(model, tmp_path / "m.ckpt")
    paths = run(compose_cfg, ckpt, tmp_path / "out", "task=reconstruct", "num_samples=10", "batch_size=4", "iterations=3")
    with np.load(paths["samples"]) as saved:
        size = 16 if family is SNGAN_E else 8
        assert saved["images"].shape == saved["inputs"].shape == (10, size, size, 1)
        assert saved["latents"].shape == (10, model.generator.latent_dim)
        if model.num_classes:  # the test split's labels are used
            assert saved["labels"].shape == (10,)
    assert paths["grid"].is_file()


def test_a_conditional_gan_given_unlabelled_images_reconstructs_with_the_best_fitting_class(compose_cfg, tmp_path, one_thread):
    from genlab.tasks.reconstruct import gan_reconstruct

    model = build(compose_cfg, *CGAN_E)
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    out = gan_reconstruct(model, x, None)
    errors = [((gan_reconstruct(model, x, torch.full((5,), c))["images"] - x) ** 2).flatten(1).mean(1) for c in range(10)]
    torch.testing.assert_close(((out["images"] - x) ** 2).flatten(1).mean(1), torch.stack(errors).min(0).values)


def test_reconstruct_on_a_gan_trained_without_an_encoder_says_how_to_get_one(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, "model=gan", *SMALL), tmp_path / "m.ckpt")
    with pytest.raises(ConfigError, match=r"^task=reconstruct: this GAN was trained without an encoder; retrain it with model/encoder=dcgan"):
        run(compose_cfg, ckpt, tmp_path / "out", "task=reconstruct", "num_samples=2")


def test_reconstruct_on_a_pixelrnn_names_the_families_that_can(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, "experiment=pixelrnn_digits", "model.hidden=8", "model.layers=1"), tmp_path / "m.ckpt")
    with pytest.raises(ConfigError, match=r"task=reconstruct: RNN models cannot do this \(families that can: GAN, ConditionalVAE, VAE\)"):
        run(compose_cfg, ckpt, tmp_path / "out", "task=reconstruct", "num_samples=2")


def test_the_encoder_trains_with_its_own_optimizer_and_comes_back_from_the_checkpoint(compose_cfg, tmp_path, one_thread):
    torch.manual_seed(0)
    model = build(compose_cfg, *GAN_E)
    before = [p.detach().clone() for p in model.encoder.parameters()]
    train(compose_cfg(*GAN_E, *QUIET, "trainer.max_epochs=1"))
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert len(saved["optimizer_states"]) == 3  # G, D, then E: restored by position
    assert saved["global_step"] == 3 * 3  # a G, a D and an E step per batch
    restored = load_model(tmp_path / "checkpoints" / "last.ckpt")
    encoder_keys = [k for k in saved["state_dict"] if k.startswith("encoder.")]
    assert encoder_keys and all(torch.equal(restored.state_dict()[k], saved["state_dict"][k]) for k in encoder_keys)
    assert any(not torch.equal(a, b) for a, b in zip(before, restored.encoder.parameters()))  # it trained


@pytest.mark.slow  # three CLI runs (about a minute on the shared 2-core machine)
def test_a_run_with_an_encoder_killed_mid_epoch_resumes_to_the_uninterrupted_runs_weights(cli, tmp_path):
    """As tests/test_resume.py, with the encoder: its weights, its optimizer (third) and the RNG draws
    of its step come back exactly."""
    run_args = [*GAN_E, *BARE, "logger=csv", "trainer.max_epochs=2", "trainer.limit_train_batches=4"]
    run_args += ["dataset.batch_size=32", "callbacks.model_checkpoint.last_every_n_batches=2"]
    kill = ["+callbacks.kill._target_=tests.faults.KillAt", "+callbacks.kill.epoch=1", "+callbacks.kill.batch=3"]
    env = {"PYTHONPATH": str(REPO)}
    reference = cli("train", *run_args, f"hydra.run.dir={tmp_path / 'reference'}", env=env)
    assert reference.returncode == 0, reference.stderr[-3000:]
    killed = cli("train", *run_args, *kill, f"hydra.run.dir={tmp_path / 'run'}", env=env)
    assert killed.returncode == -signal.SIGKILL
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(checkpoint, weights_only=True)["global_step"] == 3 * (4 + 2)  # saved mid-epoch 1
    resumed = cli("train", *run_args, f"ckpt_path={checkpoint}", env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    expected = torch.load(tmp_path / "reference" / "checkpoints" / "last.ckpt", weights_only=True)
    got = torch.load(checkpoint, weights_only=True)
    assert expected["global_step"] == got["global_step"] == 3 * 8
    assert any(k.startswith("encoder.") for k in expected["state_dict"]) and expected["state_dict"].keys() == got["state_dict"].keys()
    for key, value in expected["state_dict"].items():
        assert torch.equal(value, got["state_dict"][key]), key
    for opt_expected, opt_got in zip(expected["optimizer_states"], got["optimizer_states"], strict=True):
        for param, state in opt_expected["state"].items():
            assert all(torch.equal(v, opt_got["state"][param][k]) for k, v in state.items())


@pytest.mark.slow  # two DDP processes (gloo)
def test_the_encoder_keeps_ddp_ranks_identical_in_its_own_wrapper(cli, tmp_path):
    sync = tmp_path / "sync.json"
    args = [*GAN_E, *BARE, "logger=[]", "trainer.max_epochs=1", "trainer.limit_train_batches=3", "dataset.batch_size=16", "trainer=ddp_cpu"]
    result = cli(
        "train", *args, "+callbacks.sync._target_=genlab.callbacks.WeightSyncCheck", f"+callbacks.sync.path={sync}", f"hydra.run.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(sync.read_text())
    assert report["world_size"] == 2 and report["parameters"][0] == report["parameters"][1]
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    encoder_keys = [k for k in saved["state_dict"] if k.startswith("encoder.")]
    assert encoder_keys and not any(".module." in k for k in encoder_keys)  # unwrapped when saved


def test_reconstruct_with_zero_iterations_is_the_encoder_alone_and_refinement_lowers_the_error(compose_cfg, tmp_path, one_thread):
    from genlab.tasks.reconstruct import encode, gan_reconstruct

    model = build(compose_cfg, *GAN_E)
    ckpt = save(model, tmp_path / "m.ckpt")
    paths = run(compose_cfg, ckpt, tmp_path / "out", "task=reconstruct", "num_samples=6", "iterations=0")
    with np.load(paths["samples"]) as saved:
        inputs, latents = saved["inputs"], torch.from_numpy(saved["latents"])
    x = torch.from_numpy(inputs).permute(0, 3, 1, 2).float() / 127.5 - 1
    torch.testing.assert_close(latents, encode(model.eval(), x))
    alone = ((gan_reconstruct(model, x, None)["images"] - x) ** 2).mean()
    refined = ((gan_reconstruct(model, x, None, torch.Generator().manual_seed(0), iterations=20)["images"] - x) ** 2).mean()
    assert refined < alone


def test_completion_starts_from_the_encoder_only_when_asked_and_only_for_a_gan_with_one(compose_cfg, tmp_path, one_thread):
    with_encoder = save(build(compose_cfg, *GAN_E), tmp_path / "e.ckpt")
    extra = ["task=complete", "num_samples=3", "iterations=2", "encoder_start=true"]
    run(compose_cfg, with_encoder, tmp_path / "out", *extra)
    with np.load(tmp_path / "out" / "samples.npz") as saved:
        masks = saved["masks"].astype(bool)
        np.testing.assert_array_equal(saved["images"][masks], saved["inputs"][masks])
    without = save(build(compose_cfg, "model=gan", *SMALL), tmp_path / "g.ckpt")
    with pytest.raises(ConfigError, match=r"^encoder_start=true: only a GAN trained with an encoder \(model/encoder=dcgan\)"):
        run(compose_cfg, without, tmp_path / "out2", *extra)
