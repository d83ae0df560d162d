"""Improved precision/recall (Kynkaanniemi et al. 2019) against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.metrics import ImprovedPrecisionRecall


def brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def radii(x: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(d, axis=1)[:, k]  # column 0 is the point itself

    def inside(q: np.ndarray, centres: np.ndarray) -> float:
        d = np.linalg.norm(q[:, None] - centres[None], axis=-1)
        return float((d <= radii(centres)[None]).any(1).mean())

    return inside(fake, real), inside(real, fake)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, chunk_rows: int = 40) -> tuple[float, float]:
    metric = ImprovedPrecisionRecall(k=k)
    for part in real.split(chunk_rows):
        metric.update(part, real=True)
    for part in fake.split(chunk_rows):
        metric.update(part, real=False)
    p, r = metric.compute()
    return float(p), float(r)


def test_matches_brute_force_on_overlapping_gaussians() -> None:
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(150, 8, generator=g), torch.randn(150, 8, generator=g) * 1.5 + 0.5
    assert precision_recall(real, fake) == pytest.approx(brute_force(real.numpy(), fake.numpy(), 3), abs=1e-9)


def test_identical_sets_score_one_and_disjoint_sets_zero() -> None:
    x = torch.randn(100, 4, generator=torch.Generator().manual_seed(1))
    assert precision_recall(x, x.clone()) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_mode_collapse_keeps_precision_but_loses_recall() -> None:
    g = torch.Generator().manual_seed(2)
    real = torch.randn(200, 2, generator=g)
    collapsed = real[:20].repeat(10, 1) + 0.01 * torch.randn(200, 2, generator=g)
    precision, recall = precision_recall(real, collapsed)
    assert precision > 0.9 and recall < 0.5
