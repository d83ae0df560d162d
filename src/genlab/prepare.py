"""genlab-prepare dataset=NAME ...: decode a disk-backed dataset once into the cache (genlab.data.prepared)."""

from __future__ import annotations

import json

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from genlab.configs import check_ranges, config_dir
from genlab.data.disk import PreparedImageDataModule
from genlab.data.prepared import is_complete
from genlab.data.stream import StreamingImageDataModule
from genlab.errors import ConfigError, instantiate, report_config_errors


def prepare_dataset(cfg: DictConfig) -> str:
    """Build (or find) the prepared entry of `cfg.dataset`; returns a one-line summary."""
    check_ranges(cfg.dataset, "dataset.")
    datamodule = instantiate(cfg.dataset)
    if isinstance(datamodule, StreamingImageDataModule):
        datamodule.prepare_data()
        return f"genlab: litdata shards of {datamodule.source_dir} in {datamodule.data_dir}"
    if not isinstance(datamodule, PreparedImageDataModule):
        name = HydraConfig.get().runtime.choices.get("dataset", "?") if HydraConfig.initialized() else type(datamodule).__name__
        raise ConfigError(
            f"dataset={name} is not decoded from files, so there is nothing to prepare; genlab-prepare takes image_folder, cifar10, cifar100, celeba, streaming"
        )
    entry = datamodule.entry()
    existed = is_complete(entry)
    datamodule.prepare_data()
    meta = json.loads((entry / "meta.json").read_text())
    counts = ", ".join(f"{split} {n}" for split, n in meta["splits"].items())
    skipped = f"; {len(meta['skipped'])} unreadable files skipped" if meta["skipped"] else ""
    shape = "x".join(map(str, meta["shape"]))
    return f"genlab: {'already prepared' if existed else 'prepared'} {entry} ({counts} images of {shape}{skipped})"


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="prepare")
@report_config_errors
def main(cfg: DictConfig) -> None:
    print(prepare_dataset(cfg))


if __name__ == "__main__":
    main()
