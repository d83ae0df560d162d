"""genlab-sample: draw images from a checkpoint (no training config needed) into samples.npz + grid.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor

from genlab.checkpoint import TRUSTED_TARGETS, load_datamodule, load_model, read_checkpoint
from genlab.configs import check_ranges, config_dir
from genlab.errors import ConfigError, report_config_errors
from genlab.images import from_uint8, save_grid, to_hwc_uint8
from genlab.models.base import GenerativeModule


def source_images(cfg: DictConfig, model: GenerativeModule, ckpt: dict[str, Any], allowed: tuple[str, ...]) -> Tensor | None:
    """The images a translating model (CycleGAN) starts from: `input` (a folder or an .npz), else the
    first `num_samples` test images of its source domain, from the dataset saved in the checkpoint."""
    domain = model.input_domain(cfg.direction)
    if domain is None:
        if cfg.input is not None:
            raise ConfigError(f"input={cfg.input}: not used by {type(model).__name__} models (they take no input images); leave unset")
        return None
    if cfg.input is not None:
        from genlab.data.unpaired import read_images

        dataset_cfg = ckpt["genlab"].get("dataset") or {}
        return from_uint8(read_images(cfg.input, dataset_cfg.get("channels", 3), dataset_cfg.get("crop_size")))[: cfg.num_samples]
    datamodule, _ = load_datamodule(ckpt, allowed=allowed)
    return datamodule.images("test", domain, cfg.num_samples)


@torch.no_grad()
def sample(cfg: DictConfig) -> dict[str, Path]:
    check_ranges(cfg)
    allowed = (*TRUSTED_TARGETS, *cfg.trusted_targets)
    ckpt = read_checkpoint(cfg.ckpt_path, allowed)
    model = load_model(cfg.ckpt_path, allowed, ckpt).to(cfg.device)
    inputs = source_images(cfg, model, ckpt, allowed)
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    # Options a family does not use stay None (see GenerativeModule.generate).
    outputs = model.generate(cfg.num_samples, cfg.batch_size, generator, direction=cfg.direction, inputs=inputs)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "samples.npz", **{name: to_hwc_uint8(images) for name, images in outputs.items()})
    grid_images, nrow = model.grid_layout(outputs)
    save_grid(grid_images, out / "grid.png", nrow=nrow)
    return {"samples": out / "samples.npz", "grid": out / "grid.png"}


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="sample")
@report_config_errors
def main(cfg: DictConfig) -> None:
    paths = sample(cfg)
    print(f"genlab: wrote {paths['samples']} and {paths['grid']}")


if __name__ == "__main__":
    main()
