"""The domain-classifier extractor: a small CNN trained by genlab on the dataset's labelled train split
(class labels; for two-domain CycleGAN data the domain of each image).

Its penultimate activations give "classifier FID" (the domain-classifier FID of the MNIST
literature, not comparable with Inception FID) and its logits the classifier Inception Score.
Trained once per (dataset, image size, config) and cached; held-out accuracy is stored with it.
Unlabelled datasets fall back to the same CNN at a fixed random initialisation (see RandomCNNFeatures).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn

from genlab.images import to_unit
from genlab.metrics import cache
from genlab.metrics.extractors import FeatureExtractor


class DigitCNN(nn.Module):
    """Three 3x3 conv blocks, a 3x3 adaptive pool, a `num_features` hidden layer, class logits.

    Works for any image size >= 8 px and any channel count; inputs are floats in [0, 1].
    """

    def __init__(self, channels: int, num_classes: int, width: int = 16, num_features: int = 128) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        self.conv = nn.Sequential(
            *block(channels, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            nn.MaxPool2d(2),
            *block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(3),
            nn.Flatten(),
        )
        self.hidden = nn.Sequential(nn.Linear(36 * width, num_features), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(num_features, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(features, logits) for images in [0, 1]."""
        features = self.hidden(self.conv(x * 2 - 1))
        return features, self.head(self.dropout(features))


class CNNFeatures(FeatureExtractor):
    """A DigitCNN used as a feature extractor (features: its hidden layer; logits: its head)."""

    def __init__(self, net: DigitCNN, name: str, key: str, info: dict[str, Any], num_classes: int) -> None:
        super().__init__(key, info)
        self.name, self.net = name, net.requires_grad_(False)
        self.num_features, self.num_classes = net.head.in_features, num_classes
        self.eval()

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        features, logits = self.net(images.float())
        return features, logits if self.num_classes else None


def _shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Random translations by up to `max_shift` px (zero padding): cheap augmentation against overfitting."""
    padded = F.pad(x, (max_shift,) * 4)
    h, w = x.shape[-2:]
    out = torch.empty_like(x)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(x), 2), generator=generator)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy : dy + h, dx : dx + w]
    return out


@torch.no_grad()
def accuracy(net: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    net.eval()
    correct = sum(int((net(images[i : i + batch_size])[1].argmax(1) == labels[i : i + batch_size]).sum()) for i in range(0, len(images), batch_size))
    return correct / max(1, len(images))


class ClassifierFeatures:
    """Spec of the classifier extractor (`metrics/features=classifier`, the default for labelled datasets).

    Trains DigitCNN with Adam for `epochs` passes over the train split, clamped to
    [`min_steps`, `max_steps`] batches (digits: 80, MNIST t10k: 250, full MNIST: 600), random shifts as augmentation;
    measures accuracy on `heldout_split`, caches weights + accuracy under `cache_dir/extractors/`.
    """

    name = "classifier"

    def __init__(
        self,
        width: int = 16,
        num_features: int = 128,
        epochs: int = 4,
        min_steps: int = 80,
        max_steps: int = 600,
        batch_size: int = 128,
        lr: float = 2e-3,
        seed: int = 0,
        heldout_split: str = "val",
        min_accuracy: float = 0.97,
    ) -> None:
        self.width, self.num_features, self.batch_size = width, num_features, batch_size
        self.epochs, self.min_steps, self.max_steps = epochs, min_steps, max_steps
        self.lr, self.seed, self.heldout_split, self.min_accuracy = lr, seed, heldout_split, min_accuracy

    def config(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "num_features": self.num_features,
            "epochs": self.epochs,
            "min_steps": self.min_steps,
            "max_steps": self.max_steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "seed": self.seed,
            "heldout_split": self.heldout_split,
        }

    def cache_path(self, dataset_key: str, cache_dir: str | Path) -> Path:
        return Path(cache_dir) / "extractors" / f"{self.name}-{dataset_key}-{cache.config_hash(self.config())}.pt"

    def build(self, datamodule: pl.LightningDataModule, dataset_key: str, cache_dir: str | Path | None) -> FeatureExtractor:
        datamodule.setup()
        num_classes = datamodule.num_classes  # both data contracts (genlab.contracts) have it
        if not num_classes:
            rank_zero_warn("metrics.features=classifier: the dataset has no labels; using the random-CNN fallback (see docs/metrics.md)")
            return RandomCNNFeatures(self.width, self.num_features, self.seed).build(datamodule, dataset_key, cache_dir)
        channels = datamodule.channels
        net = DigitCNN(channels, num_classes, self.width, self.num_features)
        path = self.cache_path(dataset_key, cache_dir) if cache_dir is not None else None
        saved = cache.load(path) if path is not None else None
        if saved is None:
            saved = self.train(channels, num_classes, datamodule)
            if path is not None:
                cache.save_atomic(saved, path)
        net.load_state_dict(saved["state_dict"])
        info = {k: saved[k] for k in ("accuracy", "heldout_split", "num_train", "num_heldout")}
        if info["accuracy"] < self.min_accuracy:
            rank_zero_warn(f"classifier extractor: held-out accuracy {info['accuracy']:.4f} is below {self.min_accuracy}")
        key = path.stem if path is not None else f"{self.name}-{dataset_key}-{cache.config_hash(self.config())}"
        return CNNFeatures(net, self.name, key, info, num_classes)

    def train(self, channels: int, num_classes: int, datamodule: Any) -> dict[str, Any]:
        """Train a DigitCNN on the train split; return what the cache stores (weights, accuracy, sizes)."""
        start = time.perf_counter()
        train_set = datamodule.classifier_dataset("train")  # serves [-1, 1] images (dynamically binarized if configured)
        held_out = datamodule.classifier_dataset(self.heldout_split)
        held_images, held_labels = held_out.__getitems__(list(range(len(held_out))))
        # Private RNG streams: training the extractor must not shift the training run's randomness.
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            generator = torch.Generator().manual_seed(self.seed)
            net = DigitCNN(channels, num_classes, self.width, self.num_features)
            optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
            steps = min(self.max_steps, max(self.min_steps, self.epochs * len(train_set) // self.batch_size))
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, self.lr, total_steps=steps)
            max_shift = max(1, train_set.images.shape[-1] // 14)
            net.train()
            for _ in range(steps):
                idx = torch.randint(0, len(train_set), (self.batch_size,), generator=generator)
                images, labels = train_set.__getitems__(idx.tolist())
                _, logits = net(_shift(to_unit(images), max_shift, generator))
                loss = F.cross_entropy(logits, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
        acc = accuracy(net, to_unit(held_images), held_labels)
        rank_zero_info(f"classifier extractor: trained in {time.perf_counter() - start:.0f} s, {self.heldout_split} accuracy {acc:.4f}")
        return {
            "state_dict": net.state_dict(),
            "accuracy": acc,
            "heldout_split": self.heldout_split,
            "num_train": len(train_set),
            "num_heldout": len(held_labels),
            "steps": steps,
            "config": self.config(),
        }


class RandomCNNFeatures:
    """Fallback for unlabelled datasets (`metrics/features=random_cnn`): DigitCNN at a fixed random init.

    Random-network features track low-level image statistics; the numbers are comparable only
    between runs with the same seed, width, image size and dataset, never with Inception or
    classifier FID. Use `metrics/features=inception` where the weights are available.
    """

    name = "random_cnn"

    def __init__(self, width: int = 16, num_features: int = 128, seed: int = 0) -> None:
        self.width, self.num_features, self.seed = width, num_features, seed

    def build(self, datamodule: pl.LightningDataModule, dataset_key: str, cache_dir: str | Path | None) -> FeatureExtractor:
        datamodule.setup()
        channels = datamodule.channels  # every genlab DataModule has it; unpaired ones have no `splits`
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            net = DigitCNN(channels, 1, self.width, self.num_features)
        config = {"width": self.width, "num_features": self.num_features, "seed": self.seed}
        key = f"{self.name}-{dataset_key}-{cache.config_hash(config)}"
        return CNNFeatures(net, self.name, key, {"seed": self.seed, "trained": False}, num_classes=0)
