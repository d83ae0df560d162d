"""Sample metrics of any GenerativeModule: FID, KID, IS and improved precision/recall per metric stream.

One extractor pass per batch feeds all four torchmetrics metrics (through a `Precomputed` feature
module). Real-image features are computed once per (dataset, split, image size, extractor) and
cached. Under DDP every rank extracts its own contiguous share of the generated batches and of the
real features; `compute()` runs on every rank and gathers the states in rank order, so the result
equals the single-process one on the same samples.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from genlab.images import to_unit
from genlab.metrics import cache
from genlab.metrics.coverage import ClassHistogram, class_coverage
from genlab.metrics.dist import barrier, rank_and_world, shard
from genlab.metrics.extractors import ExtractorSpec, FeatureExtractor, Precomputed
from genlab.metrics.floor import cached_floor
from genlab.metrics.precision_recall import ImprovedPrecisionRecall
from genlab.metrics.streams import MetricStream

#: Human-readable metric names; prefixed with the extractor ("classifier FID", "inception FID").
DISPLAY = {
    "fid": "FID",
    "kid_mean": "KID",
    "kid_std": "KID std",
    "is_mean": "IS",
    "is_std": "IS std",
    "precision": "precision",
    "recall": "recall",
    "class_kl": "class KL",
    "max_class_share": "max class share",
    "min_class_share": "min class share",
    "classes_below_half": "classes below half share",
}


class StreamSource(Protocol):
    def metric_streams(self, datamodule: Any, split: str, num_samples: int) -> list[MetricStream]: ...


def build_extractor(spec: ExtractorSpec, datamodule: Any, dataset_key: str, cache_dir: str | Path | None) -> FeatureExtractor:
    """`spec.build` on rank 0 first (it may train and cache), then on the other ranks (they load)."""
    rank, _ = rank_and_world()
    extractor = spec.build(datamodule, dataset_key, cache_dir) if rank == 0 else None
    barrier()
    return extractor if extractor is not None else spec.build(datamodule, dataset_key, cache_dir)


class SampleMetrics:
    """Computes `{"fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall"}` (+ stream
    suffixes) and, for each, its protocol. Extractors with class logits add IS and mode coverage
    (`class_kl`, `max_class_share`, `min_class_share`, `classes_below_half`; genlab.metrics.coverage).
    Each metric `K` but the spreads also gets `K_floor`, its real-vs-real value (genlab.metrics.floor)."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        dataset_key: str,
        cache_dir: str | Path | None = None,
        num_samples: int = 10000,
        batch_size: int = 500,
        seed: int = 0,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        precision_recall_k: int = 3,
        is_splits: int = 10,
    ) -> None:
        self.extractor, self.dataset_key = extractor, dataset_key
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self.precision_recall_k, self.is_splits = precision_recall_k, is_splits

    # -- real side ------------------------------------------------------------------------------
    def features(self, images: Tensor, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor | None]:
        """Extractor outputs for uint8 (or [0, 1] float) NCHW images, batched, on the CPU."""
        self.extractor.to(device)
        feats, logits = [], []
        for i in range(0, len(images), self.batch_size):
            batch = images[i : i + self.batch_size].to(device)
            f, lg = self.extractor(batch.float() / 255 if batch.dtype == torch.uint8 else batch)
            feats.append(f.cpu())
            logits.append(lg.cpu() if lg is not None else None)
        return torch.cat(feats), (torch.cat(logits) if logits[0] is not None else None)

    def reference_path(self, reference: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / "reference" / f"{self.dataset_key}-{reference}-{self.extractor.key}.pt"

    def reference_features(self, stream: MetricStream, device: torch.device | str = "cpu") -> Tensor:
        """Features of the stream's real images: from the cache, else computed by rank 0 and cached."""
        return self.reference(stream, device)[0]

    def reference(self, stream: MetricStream, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor | None]:
        """(features, class logits or None) of the stream's real images, cached like `reference_features`."""
        path = self.reference_path(stream.reference)
        if path is None:
            return self.features(stream.real(), device)
        rank, _ = rank_and_world()
        saved = cache.load(path) if rank == 0 else None
        # Entries written before coverage existed hold features only: redo them once.
        if rank == 0 and (saved is None or (self.extractor.num_classes and saved.get("logits") is None)):
            features, logits = self.features(stream.real(), device)
            cache.save_atomic({"features": features, "logits": logits}, path)
        barrier()
        saved = cache.load(path)
        return saved["features"], saved.get("logits")

    # -- generated side -------------------------------------------------------------------------
    def _metrics(self, n_real: int, n_fake: int, device: torch.device | str, sync: bool = True) -> dict[str, Any]:
        """Fresh torchmetrics states; `sync=False` keeps compute() local to this process (floors:
        every rank holds all the features already)."""
        d, k = self.extractor.num_features, self.extractor.num_classes
        with warnings.catch_warnings():  # "KID/IS will save all extracted features in buffer": intended
            warnings.simplefilter("ignore", UserWarning)
            metrics = {
                "fid": FrechetInceptionDistance(feature=Precomputed(d), sync_on_compute=sync),
                "kid": KernelInceptionDistance(
                    feature=Precomputed(d),
                    subsets=self.kid_subsets,
                    subset_size=max(2, min(self.kid_subset_size, n_real, n_fake)),
                    sync_on_compute=sync,
                ),
                "pr": ImprovedPrecisionRecall(k=self.precision_recall_k, sync_on_compute=sync),
            }
            if k:
                metrics["is"] = InceptionScore(feature=Precomputed(k), splits=self.is_splits, sync_on_compute=sync)
                metrics["classes"] = ClassHistogram(k, sync_on_compute=sync)
        return {name: m.to(device) for name, m in metrics.items()}

    def _values(self, metrics: dict[str, Any], real_logits: Tensor | None) -> dict[str, float]:
        """compute() every metric; mode coverage against `real_logits`' classes when given."""
        # KID and IS draw random subsets: the same seed on every rank and every call.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            values = {"fid": metrics["fid"].compute()}
            values["kid_mean"], values["kid_std"] = metrics["kid"].compute()
            if "is" in metrics:
                values["is_mean"], values["is_std"] = metrics["is"].compute()
            values["precision"], values["recall"] = metrics["pr"].compute()
        values = {name: float(v) for name, v in values.items()}
        if "classes" in metrics and real_logits is not None:
            real_counts = torch.bincount(real_logits.argmax(1), minlength=self.extractor.num_classes)
            values.update(class_coverage(metrics["classes"].compute().cpu(), real_counts))
        return values

    @torch.no_grad()
    def compute_stream(
        self, stream: MetricStream, real_features: Tensor, device: torch.device | str = "cpu", real_logits: Tensor | None = None
    ) -> dict[str, float]:
        """The metrics of one stream; with `real_logits` (the reference's class logits) mode coverage too."""
        rank, world = rank_and_world()
        metrics = self._metrics(len(real_features), stream.num_fake, device)
        mine = shard(len(real_features), rank, world)
        real = real_features[mine.start : mine.stop].to(device)
        for name in ("fid", "kid", "pr"):
            metrics[name].update(real, real=True)
        self.extractor.to(device)
        fake_features, fake_logits = [], []
        for b in shard(math.ceil(stream.num_fake / self.batch_size), rank, world):
            indices = torch.arange(b * self.batch_size, min(stream.num_fake, (b + 1) * self.batch_size))
            # One generator per batch: image i is the same whatever the number of ranks.
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + b)
            feats, logits = self.extractor(to_unit(stream.fake(indices, generator).to(device)))
            metrics["fid"].update(feats, real=False)
            fake_features.append(feats)
            fake_logits.append(logits)
        # List states (KID, IS, P/R) are gathered entry by entry: one update per rank keeps the
        # gathered order = rank order and the entry counts equal across ranks.
        feats = torch.cat(fake_features) if fake_features else torch.zeros(0, self.extractor.num_features, device=device)
        metrics["kid"].update(feats, real=False)
        metrics["pr"].update(feats, real=False)
        if "is" in metrics:
            logits = torch.cat(fake_logits) if fake_logits else torch.zeros(0, self.extractor.num_classes, device=device)
            metrics["is"].update(logits)
            metrics["classes"].update(logits)
        return self._values(metrics, real_logits)

    @torch.no_grad()
    def real_vs_real(
        self, real: Tensor, real_logits: Tensor | None, other: Tensor, other_logits: Tensor | None, device: torch.device | str = "cpu"
    ) -> dict[str, float]:
        """Every metric with the features `other` (real images) in place of generated ones, computed
        locally on each process (see genlab.metrics.floor)."""
        metrics = self._metrics(len(real), len(other), device, sync=False)
        for name in ("fid", "kid", "pr"):
            metrics[name].update(real.to(device), real=True)
            metrics[name].update(other.to(device), real=False)
        if "is" in metrics and other_logits is not None:
            metrics["is"].update(other_logits.to(device))
            metrics["classes"].update(other_logits.to(device))
        return self._values(metrics, real_logits)

    def protocol(self, stream: MetricStream, num_real: int, image_size: int | None) -> dict[str, Any]:
        return {
            **self.extractor.protocol(),
            "num_generated": stream.num_fake,
            "num_real": num_real,
            "reference_split": stream.reference,
            "resizing": self.extractor.info.get("resize", f"none: both sides at the dataset's image_size={image_size} px"),
            "kid": {"subsets": self.kid_subsets, "subset_size": max(2, min(self.kid_subset_size, num_real, stream.num_fake))},
            "precision_recall": {"k": self.precision_recall_k, "n": min(num_real, stream.num_fake)},
            "is_splits": self.is_splits,
            "seed": self.seed,
        }

    def evaluate(
        self, model: StreamSource, datamodule: Any, split: str, device: torch.device | str = "cpu"
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """(values, protocols) keyed like `fid`, `kid_mean`, ... (+ the stream suffix). With several
        streams `fid` is also their mean, so one monitored key works for every model family."""
        values: dict[str, float] = {}
        protocols: dict[str, Any] = {}
        streams = model.metric_streams(datamodule, split, self.num_samples)
        for stream in streams:
            real, real_logits = self.reference(stream, device)
            protocol = self.protocol(stream, len(real), datamodule.image_size if datamodule is not None else None)
            for name, value in self.compute_stream(stream, real, device, real_logits).items():
                values[name + stream.suffix], protocols[name + stream.suffix] = value, protocol
            floor = cached_floor(self, datamodule, stream.reference, real, real_logits, device)
            for name, value in (floor[0] if floor is not None else {}).items():
                values[f"{name}{stream.suffix}_floor"], protocols[f"{name}{stream.suffix}_floor"] = value, {**protocol, **floor[1]}
        if len(streams) > 1 and "fid" not in values:
            values["fid"] = sum(values[f"fid{s.suffix}"] for s in streams) / len(streams)
            protocols["fid"] = {"mean_of": [f"fid{s.suffix}" for s in streams]}
            if all(f"fid{s.suffix}_floor" in values for s in streams):
                values["fid_floor"] = sum(values[f"fid{s.suffix}_floor"] for s in streams) / len(streams)
                protocols["fid_floor"] = {"mean_of": [f"fid{s.suffix}_floor" for s in streams]}
        return values, protocols

    def display_name(self, key: str) -> str:
        """`fid_a2b` -> `classifier FID (a2b)`: the extractor is always part of the name."""
        floor = key.endswith("_floor")
        key = key.removesuffix("_floor")
        base = max((k for k in DISPLAY if key == k or key.startswith(k + "_")), key=len, default=key)
        suffix = key[len(base) :].lstrip("_")
        name = f"{self.extractor.name} {DISPLAY.get(base, base)}" + (f" ({suffix})" if suffix else "")
        return f"{name}, real-vs-real floor" if floor else name
