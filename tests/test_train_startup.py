"""genlab-train rejects incompatible combinations at start-up with one sentence naming the keys."""

from __future__ import annotations

import pytest

from genlab.errors import ConfigError
from genlab.train import train


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model=cyclegan", "dataset=digits"],
            r"model=cyclegan needs a dataset that offers genlab.contracts.TwoDomainData \(Two domains A and B.*dataset=digits builds a DigitsDataModule",
        ),
        (["model=rnn", "model.levels=7"], r"model.levels=7 does not match the data"),
        (["model=cyclegan", "dataset=textures", "dataset.crop_size=30"], r"dataset.crop_size=30: the ResNet generators take sizes divisible by 4"),
        (["dataset.image_size=12"], r"image_size=12: DCGAN nets take"),
    ],
    ids=["cyclegan-on-one-domain", "rnn-levels", "cyclegan-crop-size", "dcgan-image-size"],
)
def test_incompatible_settings_fail_before_the_first_step(compose_cfg, tmp_path, overrides, message):
    cfg = compose_cfg(*overrides, "debug=limit", "~callbacks.sample_metrics", "logger=[]")
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()
