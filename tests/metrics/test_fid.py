"""FID with the classifier extractor: orders obvious cases correctly and equals the textbook formula."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from tests.metrics.helpers import genlab_metrics


def blur(images: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    x = torch.arange(-2, 3, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = (k[:, None] * k[None, :] / k.sum() ** 2)[None, None]
    return F.conv2d(images.float(), kernel, padding=2).round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def halves(digits) -> tuple[torch.Tensor, torch.Tensor]:
    images = digits.dataset("train").images
    return images[: len(images) // 2], images[len(images) // 2 :]


def test_real_halves_are_far_closer_than_noise_or_blurred_real(digits_classifier, halves) -> None:
    a, b = halves
    noise = torch.randint(0, 256, b.shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    fid_real = genlab_metrics(digits_classifier, a, b)["fid"]
    fid_noise = genlab_metrics(digits_classifier, a, noise)["fid"]
    fid_blur = genlab_metrics(digits_classifier, a, blur(b))["fid"]
    assert fid_real * 10 < fid_blur < fid_noise


def test_precision_and_recall_are_high_for_real_halves_and_low_for_noise(digits_classifier, halves) -> None:
    a, b = halves
    noise = torch.randint(0, 256, b.shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    real, fake = genlab_metrics(digits_classifier, a, b), genlab_metrics(digits_classifier, a, noise)
    assert real["precision"] > 0.6 and real["recall"] > 0.6
    assert fake["precision"] < 0.05
    assert real["kid_mean"] < fake["kid_mean"] and real["is_mean"] > fake["is_mean"]


def frechet_numpy(x: np.ndarray, y: np.ndarray) -> float:
    mu_x, mu_y = x.mean(0), y.mean(0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_x @ cov_y).real
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(cov_x + cov_y - 2 * covmean))


def test_equals_numpy_scipy_frechet_distance_on_the_same_features(digits_classifier, halves) -> None:
    a, b = halves
    b = blur(b, 0.7)
    expected = frechet_numpy(digits_classifier(a.float() / 255)[0].double().numpy(), digits_classifier(b.float() / 255)[0].double().numpy())
    assert genlab_metrics(digits_classifier, a, b)["fid"] == pytest.approx(expected, rel=1e-3)
