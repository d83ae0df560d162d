"""Sample grids a person can see: small images are enlarged (nearest neighbour) to >= 512 px wide."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from genlab.images import make_grid, upscale_for_grid
from genlab.train import train


def test_small_images_are_enlarged_by_a_whole_factor_with_every_pixel_a_block():
    images = torch.rand(64, 1, 16, 16) * 2 - 1
    big = upscale_for_grid(images, None, 512)
    assert big.shape == (64, 1, 64, 64)  # factor 4: 8 x (64 + 2) + 2 = 530 px
    assert make_grid(big).shape[-1] == 530 >= 512 > make_grid(upscale_for_grid(images, None, 0)).shape[-1]
    torch.testing.assert_close(big[:, :, ::4, ::4], images)
    torch.testing.assert_close(big[:, :, 3::4, 3::4], images)  # blocks, nothing interpolated


def test_grids_already_wide_enough_and_fixed_rows_follow_the_requested_width():
    wide = torch.zeros(64, 3, 64, 64)
    assert upscale_for_grid(wide, None, 512) is wide
    rows = upscale_for_grid(torch.zeros(8, 1, 32, 32), nrow=4, min_width=512)
    assert make_grid(rows, nrow=4).shape[-1] >= 512 and rows.shape[-1] == 128


def test_training_writes_sample_grids_at_least_512_px_wide(compose_cfg, tmp_path, one_thread):
    cfg = compose_cfg("debug=limit", "trainer.max_epochs=1", "logger=[]", "callbacks.sample_metrics=null", "model.monitor=null")
    train(cfg)
    grid = np.asarray(Image.open(tmp_path / "samples" / "epoch_000.png"))
    assert grid.shape == (530, 530)  # 64 digits at 16 px, 4x
    cell = grid[2:66, 2:66]
    assert (cell == np.repeat(np.repeat(cell[::4, ::4], 4, 0), 4, 1)).all()


def test_grids_closer_than_min_seconds_are_skipped_but_the_first_and_last_are_written(compose_cfg, tmp_path, one_thread):
    common = ("debug=limit", "trainer.max_epochs=4", "logger=[]", "callbacks.sample_metrics=null", "model.monitor=null")
    train(compose_cfg(*common, "callbacks.sample_grid.min_seconds=3600"))
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == ["epoch_000.png", "epoch_003.png"]


def test_every_epoch_gets_a_grid_without_min_seconds(compose_cfg, tmp_path, one_thread):
    train(
        compose_cfg(
            "debug=limit",
            "trainer.max_epochs=3",
            "logger=[]",
            "callbacks.sample_metrics=null",
            "model.monitor=null",
            "callbacks.sample_grid.min_seconds=0",
        )
    )
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == ["epoch_000.png", "epoch_001.png", "epoch_002.png"]


def test_a_run_without_an_epoch_limit_follows_every_n_epochs(compose_cfg, tmp_path, one_thread):
    """max_epochs=-1 (a run bounded by max_steps or max_time) has no last epoch before it ends."""
    common = ("debug=limit", "trainer.max_epochs=-1", "trainer.max_steps=56", "logger=[]", "callbacks.sample_metrics=null")
    train(compose_cfg(*common, "model.monitor=null", "callbacks.sample_grid.min_seconds=0", "callbacks.sample_grid.every_n_epochs=3"))
    # debug=limit: 4 batches (8 optimizer steps) per epoch, so 7 epochs: epochs 2 and 5, then the final grid.
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == ["epoch_002.png", "epoch_005.png", "epoch_007.png"]
