"""dataset=streaming, for datasets no node can hold: litdata shards, written once (litdata's
`BinaryWriter`, what `litdata.optimize` runs) and streamed by its `StreamingDataset` /
`StreamingDataLoader` from a local folder or an object store (s3://, gs://, ...).
Optional extra: `pip install 'genlab[stream]'`.

Layout: `data_dir/{train,val,test}/` (litdata's index.json + chunk-*.bin; a missing test uses val),
each item {"image": uint8 H x W x C, "label": int}, and `data_dir/genlab.json` (classes, size).
`genlab-prepare dataset=streaming dataset.source_dir=DIR dataset.data_dir=OUT` writes them from an
image folder, decoded and resized once exactly as `dataset=image_folder` does.
Training streams: under DDP (and multi-node) litdata gives every rank its own chunks, each sample
once per epoch; the loader's position travels in checkpoints (Lightning saves a stateful loader's
`state_dict`), so a mid-epoch resume continues the epoch's order. Validation and test are read into
memory when set up (they are small), so metrics and genlab-sample see the usual ImageData splits;
`splits` has no "train" (it is never in memory).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torchdata.stateful_dataloader import StatefulDataLoader
from tqdm.auto import tqdm

from genlab.data.base import Binarize, ImageTensorDataset, run_seed
from genlab.data.folder import FolderLabels, ImageFolderDataModule, read_image
from genlab.data.prepared import BadImage
from genlab.errors import ConfigError
from genlab.images import from_uint8
from genlab.ranges import AT_LEAST_1, CHANNELS, NON_NEGATIVE, SEED, Range

#: Training images the classifier feature extractor learns from (the stream's first ones, in memory).
CLASSIFIER_TRAIN_IMAGES = 10_000


def _litdata() -> Any:
    try:
        import litdata
    except ImportError:
        raise ConfigError(
            "dataset=streaming needs litdata: pip install 'genlab[stream]' (or pip install --no-deps litdata obstore boto3 on a CPU-only torch)"
        ) from None
    return litdata


def write_shards(source: ImageFolderDataModule, output_dir: str, chunk_bytes: str = "64MB") -> None:
    """Decode the image folder `source` once (on this core, with a progress bar) into litdata shards
    under `output_dir/<split>/`, with litdata's own writer (the format `litdata.optimize` writes).
    Local folders only: copy them to an object store as plain files (e.g. `aws s3 sync`)."""
    _litdata()
    from litdata.streaming.writer import BinaryWriter

    size, channels = source.load_size, source.channels
    for split, plan in source.plan().items():
        shutil.rmtree(Path(output_dir, split), ignore_errors=True)  # left by a write that was killed (no genlab.json yet)
        writer = BinaryWriter(f"{output_dir}/{split}", chunk_bytes=chunk_bytes)
        for i, (path, label) in enumerate(
            tqdm(list(zip(source.files[split], plan.labels)), desc=f"genlab: sharding {split}", unit="img", leave=False)
        ):
            try:
                image = read_image(path, channels, size)[0]
            except BadImage as err:
                raise ConfigError(f"{err}; fix or remove it before writing shards") from None
            writer.add_item(i, {"image": image, "label": int(label)})
        writer.done()
        writer.merge()
    Path(output_dir, "genlab.json").write_text(json.dumps({"classes": source.classes, "image_size": size, "channels": channels}))


class InMemorySplits(dict):
    """val and test; asking for "train" (streamed, never in memory) is a one-sentence ConfigError."""

    def __missing__(self, split: str) -> tuple[Tensor, Tensor]:
        raise ConfigError(
            f"dataset=streaming holds only val and test in memory, not {split!r} (training images are streamed); "
            f"what asked for it needs a dataset held in memory or prepared (image_folder, cifar10, celeba, ...)"
        )


def _whole_batch(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """ImageTensorDataset returns whole batches (`__getitems__`)."""
    return batch


def collate(items: list[dict[str, Any]]) -> tuple[Tensor, Tensor]:
    """Shard items -> (float NCHW images in [-1, 1], int64 labels)."""
    images = torch.stack([torch.as_tensor(np.asarray(item["image"])) for item in items])
    return from_uint8(images.permute(0, 3, 1, 2).contiguous()), torch.tensor([int(item["label"]) for item in items])


class StreamingImageDataModule(pl.LightningDataModule):
    """Images streamed from litdata shards; batches are (images, labels) as for every single-domain dataset."""

    def __init__(
        self,
        data_dir: str,
        image_size: Annotated[int, AT_LEAST_1] = 64,
        channels: Annotated[int, CHANNELS] = 3,
        batch_size: Annotated[int, AT_LEAST_1] = 64,
        num_workers: Annotated[int, NON_NEGATIVE] = 0,
        seed: Annotated[int, SEED] = 0,
        source_dir: str | None = None,
        labels: FolderLabels | str = FolderLabels.auto,
        val_fraction: Annotated[float, Range(gt=0, lt=1)] = 0.1,
        cache_dir: str | None = None,
        binarize: Binarize | str = Binarize.none,
    ) -> None:
        super().__init__()
        if Binarize(binarize) is not Binarize.none:
            raise ConfigError(f"dataset.binarize={Binarize(binarize).value}: dataset=streaming serves 8-bit images only")
        self.data_dir, self.source_dir, self.cache_dir = str(data_dir).rstrip("/"), source_dir, cache_dir
        self.image_size, self.channels, self.batch_size, self.num_workers, self.seed = image_size, channels, batch_size, num_workers, seed
        self.binarize = Binarize.none
        self.labels_from, self.val_fraction = labels, val_fraction
        self.splits: dict[str, tuple[Tensor, Tensor]] = InMemorySplits()
        self._classifier_train: tuple[Tensor, Tensor] | None = None
        self.num_classes = 0
        self.remote = "://" in self.data_dir
        if not self.remote and source_dir is None and not (Path(self.data_dir) / "train" / "index.json").is_file():
            raise ConfigError(
                f"dataset.data_dir={self.data_dir}: no litdata shards (train/index.json); write them with "
                f"genlab-prepare dataset=streaming dataset.source_dir=<image folder> dataset.data_dir={self.data_dir}"
            )

    def _split_dir(self, split: str) -> str:
        if split == "test" and not self.remote and not (Path(self.data_dir) / "test" / "index.json").is_file():
            split = "val"
        return f"{self.data_dir}/{split}"

    def prepare_data(self) -> None:
        """Write the shards from `source_dir` (once: skipped when data_dir already holds them)."""
        if self.source_dir is None or self.remote or (Path(self.data_dir) / "genlab.json").is_file():
            return
        source = ImageFolderDataModule(
            self.source_dir, labels=self.labels_from, val_fraction=self.val_fraction, image_size=self.image_size, channels=self.channels
        )
        write_shards(source, self.data_dir)

    def _dataset(self, split: str, shuffle: bool) -> Any:
        litdata = _litdata()
        return litdata.StreamingDataset(
            self._split_dir(split), shuffle=shuffle, drop_last=shuffle, seed=run_seed(self.seed), cache_dir=self.cache_dir
        )

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.prepare_data()
        meta_file = Path(self.data_dir) / "genlab.json"
        meta = json.loads(meta_file.read_text()) if not self.remote and meta_file.is_file() else {}
        if meta and (meta["image_size"], meta["channels"]) != (self.image_size, self.channels):
            raise ConfigError(
                f"dataset.image_size={self.image_size}, dataset.channels={self.channels}: the shards in {self.data_dir} hold "
                f"{meta['image_size']} px, {meta['channels']} channels; write new ones or match them"
            )
        self.num_classes = len(meta.get("classes", []))
        for split in ("val", "test"):
            self.splits[split] = self._read(split)

    def _read(self, split: str, limit: int | None = None) -> tuple[Tensor, Tensor]:
        """The first `limit` (all) items of a split in memory, as uint8 NCHW + labels. Read by global
        index, not by iterating (which under DDP yields only this rank's share): every rank gets all."""
        dataset = self._dataset(split, shuffle=False)
        n = sum(end - start for start, end in dataset.region_of_interest)
        items = [dataset[i] for i in range(min(n, limit or n))]
        images = torch.stack([torch.as_tensor(np.asarray(item["image"])) for item in items]).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor([int(item["label"]) for item in items])

    def dataset(self, split: str) -> ImageTensorDataset:
        self.setup()
        return ImageTensorDataset(*self.splits[split])

    def classifier_dataset(self, split: str) -> ImageTensorDataset:
        """The classifier feature extractor learns from the first `CLASSIFIER_TRAIN_IMAGES` training images."""
        if split != "train":
            return self.dataset(split)
        if self._classifier_train is None:
            self._classifier_train = self._read("train", CLASSIFIER_TRAIN_IMAGES)
        return ImageTensorDataset(*self._classifier_train)

    def train_dataloader(self) -> Any:
        litdata = _litdata()
        return litdata.StreamingDataLoader(
            self._dataset("train", shuffle=True), batch_size=self.batch_size, num_workers=self.num_workers, collate_fn=collate
        )

    def _eval_loader(self, split: str) -> StatefulDataLoader:
        return StatefulDataLoader(self.dataset(split), batch_size=self.batch_size, collate_fn=_whole_batch)

    def val_dataloader(self) -> StatefulDataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> StatefulDataLoader:
        return self._eval_loader("test")
