"""The classifier extractor: trains on the labelled train split (class labels, or the domains of
two-domain data), caches, reloads, is accurate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from genlab.data import MNISTDataModule
from genlab.data.textures import TexturesDataModule
from genlab.images import to_unit
from genlab.metrics import ClassifierFeatures, FeatureExtractor, Precomputed, RandomCNNFeatures, dataset_key
from tests.metrics.conftest import DIGITS_CONFIG, FAST_CLASSIFIER


def test_reaches_97_percent_on_digits_heldout(digits_classifier: FeatureExtractor) -> None:
    assert digits_classifier.info["accuracy"] >= 0.97
    assert digits_classifier.info["heldout_split"] == "val" and digits_classifier.info["num_heldout"] > 0


def test_is_cached_under_cache_dir_keyed_by_dataset_size_and_config(digits_classifier: FeatureExtractor, metrics_cache: Path) -> None:
    (path,) = (metrics_cache / "extractors").glob("*.pt")
    assert path.stem == digits_classifier.key
    assert path.name.startswith("classifier-digits-16px-")


def test_reloads_from_cache_without_retraining(digits_classifier, digits, metrics_cache, monkeypatch) -> None:
    monkeypatch.setattr(ClassifierFeatures, "train", lambda *a, **k: pytest.fail("retrained despite a cached extractor"))
    again = ClassifierFeatures(**FAST_CLASSIFIER).build(digits, dataset_key(DIGITS_CONFIG), metrics_cache)
    images = digits.dataset("val").images[:32].float() / 255
    assert torch.equal(again(images)[0], digits_classifier(images)[0])
    assert again.info == digits_classifier.info


def test_another_config_gets_another_cache_entry(digits, metrics_cache) -> None:
    spec = ClassifierFeatures(**{**FAST_CLASSIFIER, "seed": 1})
    assert spec.cache_path("k", metrics_cache) != ClassifierFeatures(**FAST_CLASSIFIER).cache_path("k", metrics_cache)


def test_outputs_features_and_logits_for_images_in_unit_range(digits_classifier, digits) -> None:
    features, logits = digits_classifier(digits.dataset("test").images[:8].float() / 255)
    assert features.shape == (8, digits_classifier.num_features) and logits.shape == (8, 10)
    assert not digits_classifier.training


def test_unlabelled_data_falls_back_to_the_random_cnn(digits, monkeypatch) -> None:
    monkeypatch.setattr(type(digits), "num_classes", 0)
    extractor = ClassifierFeatures(**FAST_CLASSIFIER).build(digits, "digits-unlabelled", None)
    assert extractor.name == "random_cnn" and extractor.num_classes == 0
    assert extractor.key == RandomCNNFeatures().build(digits, "digits-unlabelled", None).key


def test_on_two_domain_data_it_learns_the_domains_and_its_fid_separates_them() -> None:
    """Textures (grass A, gravel B): labels are the domains, so FID between the domains is large and
    FID between two samples of one domain small: a usable score for CycleGAN translations."""
    textures = TexturesDataModule(train_crops=256, test_crops=64)
    extractor = ClassifierFeatures(**FAST_CLASSIFIER).build(textures, "textures-test", None)
    assert extractor.num_classes == 2 and extractor.info["accuracy"] >= 0.97, extractor.info
    assert extractor.info["num_train"] == 512 and extractor.info["num_heldout"] == 128  # both domains' test crops

    def features(split: str, domain: str) -> torch.Tensor:
        return extractor(to_unit(textures.images(split, domain)))[0]

    def fid(a: torch.Tensor, b: torch.Tensor) -> float:
        metric = FrechetInceptionDistance(feature=Precomputed(extractor.num_features))
        metric.update(a, real=True)
        metric.update(b, real=False)
        return float(metric.compute())

    across = fid(features("test", "A"), features("test", "B"))
    within = max(fid(features("train", "A")[:64], features("test", "A")), fid(features("train", "B")[:64], features("test", "B")))
    assert across > 20 * within, (across, within)


@pytest.mark.slow
def test_reaches_97_percent_on_mnist_t10k(shared_mnist: Path, tmp_path: Path) -> None:
    dm = MNISTDataModule(data_dir=str(shared_mnist), train_split="t10k")
    extractor = ClassifierFeatures().build(dm, "mnist-t10k", tmp_path)
    assert extractor.info["accuracy"] >= 0.97, extractor.info
    assert extractor.info["num_heldout"] == 2000
