"""genlab-eval cas=true: the Classification Accuracy Score of a conditional model, beside the same
classifier trained on as many real images, in metrics.json and the printed table; an unconditional
model is refused in one sentence before anything is computed."""

from __future__ import annotations

import json

import pytest

from genlab.errors import ConfigError
from genlab.eval import evaluate
from tests.tasks.checkpoints import build, save

SMALL = ["dataset=digits", "dataset.image_size=8", "model.generator.width=8", "model.discriminator.width=8"]


def eval_cfg(compose_cfg, ckpt, out, *extra):
    return compose_cfg(f"ckpt_path={ckpt}", "metrics.num_samples=50", "logger=[]", f"paths.output_dir={out}", *extra, config_name="eval")


def test_cas_of_a_conditional_gan_is_reported_beside_the_real_data_baseline(compose_cfg, tmp_path, capsys, one_thread):
    ckpt = save(build(compose_cfg, "model=cgan", *SMALL), tmp_path / "m.ckpt")
    results = evaluate(eval_cfg(compose_cfg, ckpt, tmp_path / "eval", "cas=true", "cas_samples=300"))
    cas, real = results["test/cas"], results["test/cas_real"]
    # An untrained generator's images carry no class: near chance; 300 real digits: far above it.
    assert cas["value"] < 0.4 < real["value"]
    assert cas["protocol"]["num_train"] == real["protocol"]["num_train"] == 300
    assert (cas["protocol"]["trained_on"], real["protocol"]["trained_on"]) == ("generated", "real")
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert saved["test/cas"]["value"] == cas["value"] and "test/cas_real" in saved
    table = capsys.readouterr().out
    assert "CAS (trained on 300 generated)" in table and "CAS baseline (trained on 300 real)" in table


def test_cas_of_an_unconditional_model_is_refused_in_one_sentence(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, "model=gan", *SMALL), tmp_path / "m.ckpt")
    with pytest.raises(
        ConfigError, match=r"^cas=true: the Classification Accuracy Score needs a conditional model, but this GAN was trained without labels"
    ):
        evaluate(eval_cfg(compose_cfg, ckpt, tmp_path / "eval", "cas=true"))
    assert not (tmp_path / "eval" / "metrics.json").exists()
