"""Dashboards: one wandb run per run dir (resumes continue it), grouped by sweep, tagged with model and dataset."""

from __future__ import annotations

import logging

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import read_write

from genlab.loggers import run_info, wandb_logger


def test_a_wandb_run_is_tagged_with_model_and_dataset_and_keeps_its_id_in_the_run_dir(compose_cfg, tmp_path):
    compose_cfg("model=vae", "dataset=digits")
    first = wandb_logger(str(tmp_path), offline=True, tags=["mine"])
    init = first._wandb_init
    assert init["tags"] == ["mine", "vae", "digits"] and init["group"] is None and init["resume"] == "allow"
    assert (tmp_path / "wandb" / "run_id").read_text() == init["id"]
    assert wandb_logger(str(tmp_path), offline=True)._wandb_init["id"] == init["id"]  # a resumed run: same wandb run


def test_sweep_jobs_are_grouped_by_their_sweep_and_named_after_the_job(compose_cfg, tmp_path):
    compose_cfg("model.lr_g=1e-4")
    hydra = HydraConfig.get()
    with read_write(hydra):
        hydra.mode, hydra.sweep.dir, hydra.job.num, hydra.job.override_dirname = RunMode.MULTIRUN, "outputs/sweeps/gan_digits", 3, "model.lr_g=1e-4"
    init = wandb_logger(str(tmp_path), offline=True)._wandb_init
    assert init["group"] == "outputs/sweeps/gan_digits" and init["name"] == "gan_digits/3: model.lr_g=1e-4"
    info = run_info()
    assert info["overrides"] == ["model.lr_g=1e-4"] and info["job_num"] == 3 and info["git_commit"]


def test_lightnings_product_tips_are_dropped_and_its_other_messages_kept(caplog):
    from pytorch_lightning.utilities import rank_zero_info

    from genlab.loggers import quiet_lightning_tips

    quiet_lightning_tips()
    with caplog.at_level(logging.INFO):
        rank_zero_info("💡 Tip: For seamless cloud logging, try installing litlogger")
        rank_zero_info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
