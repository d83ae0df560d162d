"""Mode coverage for labelled data: the extractor classifier's class histogram of the generated
images against the same classifier's histogram of the real reference images.

- `class_kl`: KL(generated || real) of the two class distributions, in nats (0: the same shares).
  The real histogram gets half a count per class (Jeffreys) so a class the small reference split
  happens to lack gives a large, finite value instead of infinity.
- `max_class_share`, `min_class_share`: the largest and smallest share of one class among the
  generated images (a collapsed generator: max near 1; every class present: min > 0).
- `classes_below_half`: how many classes get less than half their real share: the missing modes.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

#: The keys `class_coverage` returns.
COVERAGE_KEYS = ("class_kl", "max_class_share", "min_class_share", "classes_below_half")


class ClassHistogram(Metric):
    """Counts of predicted classes (argmax of logits), summed over processes at compute()."""

    full_state_update = False

    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.add_state("counts", torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: Tensor) -> None:
        self.counts += torch.bincount(logits.argmax(1), minlength=self.num_classes).to(self.counts)

    def compute(self) -> Tensor:
        return self.counts


def class_coverage(fake_counts: Tensor, real_counts: Tensor) -> dict[str, float]:
    """The coverage numbers (see the module docstring) from two class-count vectors."""
    fake = fake_counts.double() / fake_counts.sum().clamp_min(1)
    real = (real_counts.double() + 0.5) / (real_counts.sum() + 0.5 * len(real_counts))
    present = fake > 0
    kl = (fake[present] * (fake[present] / real[present]).log()).sum()
    return {
        "class_kl": float(kl),
        "max_class_share": float(fake.max()),
        "min_class_share": float(fake.min()),
        "classes_below_half": float((fake < real / 2).sum()),
    }
