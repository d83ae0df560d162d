"""Mode coverage for labelled data: the classifier's class histogram of samples against the real one."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.metrics import SampleMetrics
from genlab.metrics.coverage import ClassHistogram, class_coverage
from tests.metrics.test_floor import ImageSource


def test_matching_class_shares_give_zero_kl_and_no_class_below_half():
    counts = torch.full((10,), 100.0)
    assert class_coverage(counts, counts) == pytest.approx(
        {"class_kl": 0.0, "max_class_share": 0.1, "min_class_share": 0.1, "classes_below_half": 0.0}, abs=1e-12
    )


def test_a_collapsed_generator_has_one_class_and_nine_missing():
    fake, real = torch.zeros(10), torch.full((10,), 100.0)
    fake[3] = 500
    out = class_coverage(fake, real)
    assert out["max_class_share"] == 1 and out["min_class_share"] == 0 and out["classes_below_half"] == 9
    assert out["class_kl"] == pytest.approx(math.log(1 / ((100.5) / (1000 + 5))), rel=1e-9)  # log(1 / real share)


def test_a_class_the_small_real_set_lacks_gives_a_finite_kl():
    fake, real = torch.full((3,), 10.0), torch.tensor([10.0, 10.0, 0.0])
    assert math.isfinite(class_coverage(fake, real)["class_kl"])


def test_class_histogram_counts_the_argmax_class():
    hist = ClassHistogram(4)
    hist.update(torch.tensor([[0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 3.0, 1.0, 0.0]]))
    assert hist.compute().tolist() == [0.0, 2.0, 0.0, 1.0]


def test_held_out_digits_cover_every_class_and_one_digit_only_does_not(digits, digits_classifier):
    """Through the real classifier: the test split spreads like val, a set of 0s is one class."""
    test_images, test_labels = digits.dataset("test").images, digits.dataset("test").labels
    zeros = test_images[test_labels == 0]
    metrics = SampleMetrics(digits_classifier, "digits", num_samples=len(test_images), kid_subsets=10)
    spread, _ = metrics.evaluate(ImageSource(test_images), digits, "val")
    assert spread["classes_below_half"] == 0 and spread["class_kl"] < 0.05 and spread["max_class_share"] < 0.15
    metrics.num_samples = len(zeros)
    collapsed, _ = metrics.evaluate(ImageSource(zeros), digits, "val")
    assert collapsed["max_class_share"] > 0.9 and collapsed["classes_below_half"] >= 8 and collapsed["class_kl"] > 2
    assert {"class_kl_floor", "max_class_share_floor", "classes_below_half_floor"} <= collapsed.keys()
