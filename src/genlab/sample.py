"""genlab-sample: draw images from a checkpoint (no training config needed) into samples.npz + grid.png.

`task=sample` (default) draws new images (`labels=`/`label=` for a conditional model, `format=folder`
for a class-per-folder tree); `task=complete`, `task=interpolate` and `task=reconstruct`: see genlab.tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from genlab.checkpoint import TRUSTED_TARGETS, load_datamodule, load_model, read_checkpoint
from genlab.configs import check_ranges, config_dir
from genlab.errors import ConfigError, report_config_errors
from genlab.images import from_uint8, save_grid, to_hwc_uint8
from genlab.models.base import GenerativeModule
from genlab.tasks import family_entry
from genlab.tasks.complete import COMPLETERS, gan_complete
from genlab.tasks.conditional import default_labels, num_classes, requested_labels, sample_labelled, set_guidance
from genlab.tasks.folder import write_folder
from genlab.tasks.inputs import task_images
from genlab.tasks.interpolate import INTERPOLATORS
from genlab.tasks.masks import make_mask
from genlab.tasks.reconstruct import RECONSTRUCTORS


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


#: Completion and interpolation grids are a few small images per row: enlarged to at least this width.
TASK_GRID_WIDTH = 256


def write_outputs(out: Path, outputs: dict[str, Tensor], grid: Tensor, nrow: int | None, min_width: int = 0) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / "samples.npz", **{name: to_hwc_uint8(x) if x.is_floating_point() and x.dim() == 4 else x.numpy() for name, x in outputs.items()}
    )
    save_grid(grid, out / "grid.png", nrow=nrow, min_width=min_width)
    return {"samples": out / "samples.npz", "grid": out / "grid.png"}


@torch.no_grad()
def draw_samples(
    cfg: DictConfig, model: GenerativeModule, ckpt: dict[str, Any], allowed: tuple[str, ...], generator: torch.Generator
) -> dict[str, Path]:
    """task=sample: new images (CycleGAN: translations), conditioned on `labels`/`label` when given."""
    labels = requested_labels(cfg, model)
    if labels is None and cfg.format == "folder":
        labels = default_labels(model, cfg.num_samples)
        if labels is None:
            raise ConfigError(
                f"format=folder: writes labelled samples, but {type(model).__name__} models here are unconditional; use a conditional model"
            )
    if labels is None:
        inputs = source_images(cfg, model, ckpt, allowed)
        # Options a family does not use stay None (see GenerativeModule.generate).
        outputs = model.generate(cfg.num_samples, cfg.batch_size, generator, direction=cfg.direction, inputs=inputs)
        grid, nrow = model.grid_layout(outputs)
        return write_outputs(Path(cfg.out), outputs, grid, nrow)
    images = sample_labelled(model, labels, cfg.batch_size, generator)
    nrow = num_classes(model) if cfg.labels is None else None
    paths = write_outputs(Path(cfg.out), {"images": images, "labels": labels}, images[:100], nrow, min_width=TASK_GRID_WIDTH)
    if cfg.format == "folder":
        paths["folder"] = write_folder(images, labels, Path(cfg.out) / "images", num_classes(model))
    return paths


def given_or_known_labels(cfg: DictConfig, model: GenerativeModule, known: Tensor | None, n: int) -> Tensor | None:
    """A conditional model's labels for n input images: `labels=`/`label=` when given (one per image),
    else the test split's (None for `input=` images or an unconditional model)."""
    given = requested_labels(OmegaConf.merge(cfg, {"num_samples": n}), model)
    if given is not None and len(given) != n:
        raise ConfigError(f"labels: {len(given)} labels for {n} input images; give one per image (or label=K for all)")
    labels = given if given is not None else known
    return labels if num_classes(model) else None


def complete_images(
    cfg: DictConfig, model: GenerativeModule, ckpt: dict[str, Any], allowed: tuple[str, ...], generator: torch.Generator
) -> dict[str, Path]:
    """task=complete: `input` (default: the test split) with `mask` removed and filled by the model.

    samples.npz: images (completions), inputs (the originals), masks (1: visible), labels (if known).
    grid.png: rows of (masked input, completion, original).
    """
    complete = family_entry(model, COMPLETERS, "task=complete")
    options = {"encoder_start": True} if cfg.encoder_start else {}
    if cfg.encoder_start and (complete is not gan_complete or getattr(model, "encoder", None) is None):
        raise ConfigError("encoder_start=true: only a GAN trained with an encoder (model/encoder=dcgan) can start completion from it")
    x, saved_labels = task_images(cfg, model, ckpt, allowed)
    labels = given_or_known_labels(cfg, model, saved_labels, len(x))  # what a conditional model completes with
    saved_labels = labels if labels is not None else saved_labels
    known = make_mask(cfg.mask, tuple(x.shape), cfg.mask_fraction, generator)
    filled = torch.cat(
        [
            complete(model, xs, ks, generator, iterations=cfg.iterations, labels=None if labels is None else labels[i : i + len(xs)], **options).cpu()
            for i, xs, ks in zip(range(0, len(x), cfg.batch_size), x.split(cfg.batch_size), known.split(cfg.batch_size))
        ]
    )
    # masks: N x H x W x C like the images, 1 where the pixel was visible.
    outputs = {
        "images": filled,
        "inputs": x,
        "masks": known.permute(0, 2, 3, 1).to(torch.uint8),
        **({"labels": saved_labels} if saved_labels is not None else {}),
    }
    shown = torch.stack([torch.where(known, x, torch.zeros_like(x)), filled, x], dim=1)[:16].flatten(0, 1)
    return write_outputs(Path(cfg.out), outputs, shown, 3, min_width=TASK_GRID_WIDTH)


def interpolate_images(
    cfg: DictConfig, model: GenerativeModule, ckpt: dict[str, Any], allowed: tuple[str, ...], generator: torch.Generator
) -> dict[str, Path]:
    """task=interpolate: `num_samples` rows (pairs) of `steps` images; samples.npz also holds the latents."""
    interpolate = family_entry(model, INTERPOLATORS, "task=interpolate")

    def real_images(n: int) -> tuple[Tensor, Tensor | None]:  # only the families that interpolate between real images read them
        return task_images(OmegaConf.merge(cfg, {"num_samples": n}), model, ckpt, allowed)

    outputs = interpolate(model, cfg.num_samples, cfg.steps, generator, real_images, requested_labels(cfg, model))
    return write_outputs(Path(cfg.out), outputs, outputs["images"], cfg.steps, min_width=TASK_GRID_WIDTH)


def reconstruct_images(
    cfg: DictConfig, model: GenerativeModule, ckpt: dict[str, Any], allowed: tuple[str, ...], generator: torch.Generator
) -> dict[str, Path]:
    """task=reconstruct: `input` (default: the test split) mapped to latent codes and regenerated.

    GAN: z = E(x), then `iterations` latent refinement steps (0: the encoder alone).
    samples.npz: images (reconstructions), inputs, latents, labels (conditional GAN: known or chosen);
    grid.png: (input, reconstruction) pairs, four pairs per row.
    """
    reconstruct = family_entry(model, RECONSTRUCTORS, "task=reconstruct")
    x, labels = task_images(cfg, model, ckpt, allowed)
    labels = given_or_known_labels(cfg, model, labels, len(x))
    parts = [
        reconstruct(model, xs, None if labels is None else labels[i : i + len(xs)], generator, iterations=cfg.iterations)
        for i, xs in zip(range(0, len(x), cfg.batch_size), x.split(cfg.batch_size))
    ]
    outputs = {
        "images": torch.cat([p["images"] for p in parts]),
        "inputs": x,
        **{k: torch.cat([p[k] for p in parts]) for k in parts[0] if k != "images"},
    }
    shown = torch.stack([x, outputs["images"]], dim=1)[:32].flatten(0, 1)
    return write_outputs(Path(cfg.out), outputs, shown, 8, min_width=TASK_GRID_WIDTH)


#: task= -> what genlab-sample does.
TASKS = {"sample": draw_samples, "complete": complete_images, "interpolate": interpolate_images, "reconstruct": reconstruct_images}


def sample(cfg: DictConfig) -> dict[str, Path]:
    check_ranges(cfg)
    if cfg.task not in TASKS:
        raise ConfigError(f"task={cfg.task}: must be one of {', '.join(TASKS)}")
    if cfg.format not in ("npz", "folder"):
        raise ConfigError(f"format={cfg.format}: must be npz or folder")
    if cfg.format == "folder" and cfg.task != "sample":
        raise ConfigError(f"format=folder: writes new labelled samples (task=sample), not task={cfg.task}")
    allowed = (*TRUSTED_TARGETS, *cfg.trusted_targets)
    ckpt = read_checkpoint(cfg.ckpt_path, allowed)
    model = load_model(cfg.ckpt_path, allowed, ckpt).to(cfg.device)
    set_guidance(model, cfg.guidance)
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    return TASKS[cfg.task](cfg, model, ckpt, allowed, generator)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="sample")
@report_config_errors
def main(cfg: DictConfig) -> None:
    paths = sample(cfg)
    print(f"genlab: wrote {' and '.join(str(p) for p in paths.values())}")


if __name__ == "__main__":
    main()
