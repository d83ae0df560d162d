"""Classification Accuracy Score (Ravuri & Vinyals 2019): how useful a conditional model's samples are
as training data. genlab-eval reports it with `cas=true` (conditional models only).

Protocol (benchmarks/README.md compares it with StudioGAN's): genlab's classifier (DigitCNN with the
ClassifierFeatures recipe: Adam, one-cycle schedule, random shifts, max(80, min(600, 4 epochs))
batches of 128) is trained on n generated images with balanced labels (0..K-1 cycling; default n:
the real train split's size) and tested on the real test split; the same classifier and schedule
trained on the first n real training images is reported beside it. The final classifier is scored
(no model selection on the test split).
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.errors import ConfigError


class _TrainOn:
    """What ClassifierFeatures.train reads of a datamodule: a train set and the held-out real test split."""

    def __init__(self, train: Any, test: Any) -> None:
        self.sets = {"train": train, "test": test}

    def classifier_dataset(self, split: str) -> Any:
        return self.sets[split]


def classification_accuracy_score(model: Any, datamodule: Any, n: int | None = None, seed: int = 0) -> dict[str, float]:
    """{"cas": accuracy of the classifier trained on n generated images, "real": trained on n real
    images, "n": n}, both on the real test split (see the module docstring)."""
    from genlab.data.base import ImageTensorDataset
    from genlab.images import to_uint8
    from genlab.metrics.classifier import ClassifierFeatures
    from genlab.tasks.conditional import default_labels, sample_labelled

    real = datamodule.classifier_dataset("train")
    n = n or len(real)
    labels = default_labels(model, n)
    fake = to_uint8(sample_labelled(model, labels, 500, torch.Generator().manual_seed(seed)))
    test = datamodule.classifier_dataset("test")
    spec = ClassifierFeatures(heldout_split="test", seed=seed)
    channels, k = fake.shape[1], int(model.num_classes)
    cas = spec.train(channels, k, _TrainOn(ImageTensorDataset(fake, labels), test))["accuracy"]
    real_n = ImageTensorDataset(real.images[:n], real.labels[:n])
    return {"cas": cas, "real": spec.train(channels, k, _TrainOn(real_n, test))["accuracy"], "n": n}


def check_cas(model: Any, datamodule: Any) -> None:
    """One sentence, before anything is computed, when CAS is undefined for this model or data."""
    if not int(getattr(model, "num_classes", 0) or 0):
        raise ConfigError(
            f"cas=true: the Classification Accuracy Score needs a conditional model, but this {type(model).__name__} "
            "was trained without labels (use model=cgan, model=cvae or PixelRNN with model.num_classes)"
        )
    if "test" not in datamodule.splits or not datamodule.num_classes:
        raise ConfigError("cas=true: the checkpoint's dataset needs labels and a test split to score the classifier on")


def cas_metrics(model: Any, datamodule: Any, n: int | None, seed: int) -> dict[str, dict[str, Any]]:
    """genlab-eval's rows: test/cas and test/cas_real, each with its protocol."""
    scores = classification_accuracy_score(model, datamodule, n, seed)
    protocol = {
        "classifier": "DigitCNN (genlab.metrics.classifier.ClassifierFeatures recipe)",
        "num_train": scores["n"],
        "labels": "balanced, 0..K-1 cycling",
        "test_split": "test",
        "num_test": len(datamodule.classifier_dataset("test")),
        "seed": seed,
    }
    return {
        "test/cas": {
            "name": f"CAS (trained on {scores['n']} generated)",
            "value": scores["cas"],
            "protocol": {**protocol, "trained_on": "generated"},
        },
        "test/cas_real": {
            "name": f"CAS baseline (trained on {scores['n']} real)",
            "value": scores["real"],
            "protocol": {**protocol, "trained_on": "real"},
        },
    }
