"""genlab-eval runs the model's own likelihood step where there is one (VAE), and nothing for a GAN."""

from __future__ import annotations

from omegaconf import OmegaConf

from genlab.eval import likelihood_metrics
from genlab.train import build_model


def eval_cfg(tmp_path, split: str = "test"):
    return OmegaConf.create({"split": split, "likelihood": True, "device": "cpu", "metrics": {"seed": 0}, "paths": {"output_dir": str(tmp_path)}})


def test_vae_gets_test_nll_and_bpd_with_their_protocol(compose_cfg, digits, tmp_path) -> None:
    vae = build_model(compose_cfg("model=vae", "model.nll_samples=2"))
    results = likelihood_metrics(eval_cfg(tmp_path), vae, digits, [])
    assert {"test/nll", "test/bpd"} <= results.keys()
    protocol = results["test/nll"]["protocol"]
    assert protocol["num_images"] == len(digits.dataset("test")) and protocol["importance_samples"] == 2


def test_gan_has_no_likelihood(compose_cfg, digits, tmp_path) -> None:
    assert likelihood_metrics(eval_cfg(tmp_path), build_model(compose_cfg()), digits, []) == {}
