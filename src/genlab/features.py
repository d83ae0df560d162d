"""genlab-features dataset=NAME: train (or load from the cache) the sample metrics' feature extractor."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from genlab.configs import check_ranges, config_dir
from genlab.errors import instantiate, report_config_errors
from genlab.metrics import FeatureExtractor, dataset_key
from genlab.metrics.extractors import check_spec


def build_features(cfg: DictConfig) -> FeatureExtractor:
    check_ranges(cfg)
    datamodule = instantiate(cfg.dataset)
    key = dataset_key(OmegaConf.to_container(cfg.dataset, resolve=True, enum_to_str=True))
    return check_spec(instantiate(cfg.metrics.features)).build(datamodule, key, cfg.metrics.cache_dir)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="features")
@report_config_errors
def main(cfg: DictConfig) -> None:
    extractor = build_features(cfg)
    info = ", ".join(f"{k}={v}" for k, v in extractor.info.items())
    print(f"genlab: {extractor.name} extractor {extractor.key} ({info}); cached under {cfg.metrics.cache_dir}")


if __name__ == "__main__":
    main()
