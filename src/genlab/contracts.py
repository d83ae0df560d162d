"""What models, metrics and genlab-sample may ask of a datamodule: two small Protocols.

Data modules implement them (single-domain: `genlab.data.InMemoryImageDataModule` and its subclasses;
two-domain: `genlab.data.UnpairedDataModule`); models and metrics depend on these, never on the
concrete classes, so a new dataset works everywhere once it offers what its Protocol lists.
A model says which one it consumes with `GenerativeModule.datamodule_type`; genlab-train checks it
at start-up (`isinstance` on a runtime-checkable Protocol: the members must be there).

Images cross this line as uint8 N x C x H x W (splits) or float NCHW in [-1, 1] (datasets, batches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class ImageData(Protocol):
    """One domain of images with labels: batches are (images, labels), images float NCHW in [-1, 1]."""

    image_size: int
    channels: int
    #: Number of classes; 0: unlabelled (labels are then all 0).
    num_classes: int
    #: "none", "static" or "dynamic": whether (and how) pixels are drawn in {0, 255} for Bernoulli likelihoods.
    binarize: str
    #: After `setup()`: {"train"|"val"|"test": (uint8 images N x C x H x W, int64 labels N)}.
    splits: Mapping[str, tuple[Tensor, Tensor]]

    def setup(self, stage: str | None = None) -> None: ...

    def dataset(self, split: str) -> Any:
        """A Dataset of (image in [-1, 1], label) with `.images` (uint8) for metrics."""
        ...

    def classifier_dataset(self, split: str) -> Any:
        """What the classifier feature extractor learns to tell apart (the class labels)."""
        ...


@runtime_checkable
class TwoDomainData(Protocol):
    """Two domains A and B, unpaired: batches are (images_A, images_B), float NCHW in [-1, 1]."""

    #: The side of the (cropped) images the model sees.
    image_size: int
    channels: int
    #: 2: the domains are the classes of the classifier feature extractor (see `classifier_dataset`).
    num_classes: int

    def setup(self, stage: str | None = None) -> None: ...

    def images(self, split: str, domain: str, n: int | None = None, indices: Sequence[int] | None = None) -> Tensor:
        """Images of one split and domain ("A" or "B"): the first `n`, or those at `indices`; float NCHW in [-1, 1]."""
        ...

    def num_images(self, split: str, domain: str) -> int: ...

    def classifier_dataset(self, split: str) -> Any:
        """Images labelled by domain (0: A, 1: B), for the domain-classifier feature extractor."""
        ...
