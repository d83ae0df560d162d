"""genlab-sample: draw images from a checkpoint (no training config needed) into samples.npz + grid.png."""

from __future__ import annotations

from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from genlab.checkpoint import TRUSTED_TARGETS, load_model
from genlab.configs import check_ranges, config_dir
from genlab.errors import report_config_errors
from genlab.images import save_grid, to_hwc_uint8


@torch.no_grad()
def sample(cfg: DictConfig) -> dict[str, Path]:
    check_ranges(cfg)
    model = load_model(cfg.ckpt_path, (*TRUSTED_TARGETS, *cfg.trusted_targets)).to(cfg.device)
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    # Options a family does not use stay None (see GenerativeModule.generate).
    outputs = model.generate(cfg.num_samples, cfg.batch_size, generator, direction=cfg.direction, input=cfg.input)
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
