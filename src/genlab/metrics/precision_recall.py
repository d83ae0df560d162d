"""Improved precision and recall (Kynkaanniemi et al. 2019) as a torchmetrics Metric.

Each set's manifold is the union of balls around its feature vectors with radius = distance to the
k-th nearest neighbour within the set. Precision: fraction of generated samples inside the real
manifold; recall: fraction of real samples inside the generated one. torchmetrics has no such metric,
and the packages that do (prdc, last released 2020) build full N x N matrices; this streams chunks.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat


def kth_neighbour_radii(features: Tensor, k: int, chunk: int = 1024) -> Tensor:
    """Distance from each row to its k-th nearest other row."""
    radii = [torch.cdist(features[i : i + chunk], features).kthvalue(k + 1, dim=1).values for i in range(0, len(features), chunk)]
    return torch.cat(radii)


def coverage(queries: Tensor, centres: Tensor, radii: Tensor, chunk: int = 1024) -> Tensor:
    """Fraction of `queries` within radius[j] of some centre j."""
    inside = [(torch.cdist(queries[i : i + chunk], centres) <= radii[None]).any(1) for i in range(0, len(queries), chunk)]
    return torch.cat(inside).double().mean()


class ImprovedPrecisionRecall(Metric):
    """update(features, real) like torchmetrics' FID; compute() -> (precision, recall).

    Uses the first n = min(#real, #fake) features of each set (the estimator assumes equal sizes);
    features are gathered across processes, in rank order, before compute.
    """

    higher_is_better = True
    full_state_update = False

    def __init__(self, k: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.k = k
        self.add_state("real_features", [], dist_reduce_fx=None)
        self.add_state("fake_features", [], dist_reduce_fx=None)

    def update(self, features: Tensor, real: bool) -> None:
        # float64: with float32 the matrix-product distances differ in the last bits between thread
        # counts/devices, enough to flip points that lie on a ball's boundary.
        (self.real_features if real else self.fake_features).append(features.double())

    def compute(self) -> tuple[Tensor, Tensor]:
        real, fake = dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)
        n = min(len(real), len(fake))
        if n <= self.k:
            raise ValueError(f"precision/recall with k={self.k} needs more than {self.k} real and generated samples, got {n}")
        real, fake = real[:n], fake[:n]
        precision = coverage(fake, real, kth_neighbour_radii(real, self.k))
        recall = coverage(real, fake, kth_neighbour_radii(fake, self.k))
        return precision, recall
