"""How well completions and class-conditional samples keep a digit's class, by genlab's classifier
(genlab.metrics.ClassifierFeatures trained on the dataset): the measurements behind task=complete
and labels= in benchmarks/README.md and the slow tests (CAS itself lives in genlab.metrics.cas)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genlab.images import to_unit
from genlab.metrics.cas import classification_accuracy_score
from genlab.tasks import family_entry
from genlab.tasks.complete import COMPLETERS, mean_fill, noise_fill
from genlab.tasks.masks import make_mask

__all__ = ["classification_accuracy_score", "classify", "completion_accuracy", "label_agreement"]


@torch.no_grad()
def classify(extractor: Any, images: Tensor) -> Tensor:
    """Class predictions of a ClassifierFeatures extractor for [-1, 1] images."""
    return torch.cat([extractor(to_unit(chunk))[1].argmax(1) for chunk in images.split(500)])


def completion_accuracy(
    model: Any,
    extractor: Any,
    images: Tensor,
    labels: Tensor,
    mean_image: Tensor,
    mask: str = "bottom_half",
    seed: int = 0,
    known_labels: bool = False,
    **options: Any,
) -> dict[str, float]:
    """How often the classifier gives the original's class to: the model's completion, the mean-image
    fill and the uniform-noise fill of the same masked images (and to the originals, for reference).
    `known_labels`: a conditional model completes each image given its true class."""
    generator = torch.Generator().manual_seed(seed)
    known = make_mask(mask, tuple(images.shape), 0.5, generator)
    given = labels if known_labels else None
    filled = family_entry(model, COMPLETERS, "task=complete")(model, images, known, generator, labels=given, **options).cpu()
    fills = {
        "model": filled,
        "mean_fill": mean_fill(images, known, mean_image),
        "noise_fill": noise_fill(images, known, generator),
        "original": images,
    }
    return {name: float((classify(extractor, x) == labels).float().mean()) for name, x in fills.items()}


def label_agreement(model: Any, extractor: Any, n: int, seed: int = 0) -> float:
    """Fraction of n class-conditional samples (labels 0..K-1 cycling) that the classifier gives the requested class."""
    from genlab.tasks.conditional import default_labels, sample_labelled

    labels = default_labels(model, n)
    images = sample_labelled(model, labels, 500, torch.Generator().manual_seed(seed))
    return float((classify(extractor, images) == labels).float().mean())
