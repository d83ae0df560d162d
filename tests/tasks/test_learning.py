"""Slow: briefly trained models beat the named baselines, by genlab's digit classifier.

- completion of held-out digits with the bottom half removed is classified as the original's class
  more often than filling the half with the mean training image or with uniform noise;
- the conditional VAE's samples, and the guided conditional PixelRNN's, are classified as the
  requested class >= 90% of the time (chance: 10%);
- the MNIST cGAN's samples vary within a class (recall, and pixel spread over z against real digits
  of the same class), where a generator that draws one image per class does not.
Numbers for longer runs and every family: benchmarks/README.md ("After training").
"""

from __future__ import annotations

import pytest
import torch

from genlab.checkpoint import load_datamodule, load_model, read_checkpoint
from genlab.images import to_unit
from genlab.metrics.cache import dataset_key
from genlab.metrics.classifier import ClassifierFeatures
from genlab.metrics.precision_recall import ImprovedPrecisionRecall
from genlab.tasks.conditional import sample_labelled
from genlab.tasks.score import classification_accuracy_score, completion_accuracy, label_agreement
from genlab.train import train

QUIET = [
    "~callbacks.sample_metrics",
    "~callbacks.sample_grid",
    "logger=csv",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def trained(compose_cfg, tmp_path, cache_dir, *overrides):
    train(compose_cfg(*overrides, *QUIET))
    ckpt = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    model = load_model(tmp_path / "checkpoints" / "last.ckpt", ckpt=ckpt)
    datamodule, dataset_cfg = load_datamodule(ckpt)
    extractor = ClassifierFeatures().build(datamodule, f"digits{dataset_cfg['image_size']}", cache_dir)
    return model, datamodule, extractor


def completion_scores(model, datamodule, extractor, **options):
    images, labels = datamodule.splits["test"]
    mean_image = (datamodule.splits["train"][0].float() / 127.5 - 1).mean(0, keepdim=True)
    return completion_accuracy(model, extractor, images.float() / 127.5 - 1, labels.long(), mean_image, **options)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("family", "options"),
    [
        (["experiment=pixelrnn_digits", "trainer.max_epochs=15"], {}),
        (["model=vae", "dataset=digits", "model.nll_samples=4", "trainer.max_epochs=30"], {"iterations": 100}),
    ],
    ids=["pixelrnn_8px", "vae_16px"],
)
def test_completed_bottom_halves_keep_the_digit_class_more_often_than_mean_or_noise_fill(
    compose_cfg, tmp_path, cache_dir, family, options, one_thread
):
    model, datamodule, extractor = trained(compose_cfg, tmp_path, cache_dir, *family)
    scores = completion_scores(model, datamodule, extractor, **options)
    assert scores["model"] > max(scores["mean_fill"], scores["noise_fill"]) + 0.04, scores


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_conditional_vae_samples_are_classified_as_the_requested_class_90_percent_of_the_time(compose_cfg, tmp_path, cache_dir, one_thread):
    model, _, extractor = trained(
        compose_cfg,
        tmp_path,
        cache_dir,
        "model=cvae",
        "dataset=digits",
        "model.latent_dim=8",
        "model.lr=3e-3",
        "model.nll_samples=4",
        "trainer.max_epochs=40",
    )
    torch.manual_seed(0)
    assert label_agreement(model, extractor, 500) >= 0.9
    # Classification Accuracy Score: a classifier trained on its samples alone reads most real test digits.
    scores = classification_accuracy_score(model, load_datamodule(read_checkpoint(tmp_path / "checkpoints" / "last.ckpt"))[0])
    assert 0.8 <= scores["cas"] <= scores["real"] + 0.02, scores


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_classifier_free_guidance_makes_conditional_pixelrnn_samples_carry_their_class(compose_cfg, tmp_path, cache_dir, one_thread):
    """The 8 px conditional Row LSTM trained with 10% of its labels dropped: guided samples (scale 3)
    are classified as the requested class >= 90% of the time, and more often than unguided ones."""
    model, _, extractor = trained(
        compose_cfg, tmp_path, cache_dir, "experiment=pixelrnn_digits", "model.num_classes=10", "model.label_dropout=0.1", "trainer.max_epochs=30"
    )
    agreement = {}
    for guidance in (1.0, 3.0):
        model.guidance = guidance
        agreement[guidance] = label_agreement(model, extractor, 500)
    assert agreement[3.0] >= 0.9 and agreement[3.0] > agreement[1.0] + 0.03, agreement


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_gan_encoder_recovers_latents_and_its_reconstructions_beat_the_nearest_of_10000_samples(compose_cfg, tmp_path, cache_dir, one_thread):
    """40 epochs of a DCGAN with the encoder on 16 px digits (about 2 minutes on one idle core).

    task=reconstruct's default (E(x), then 100 latent steps) beats the nearest sample and the same
    steps from a random start. G(E(x)) alone is not reliably better than the nearest of 10,000
    samples on digits (0.050 vs 0.057 in the benchmark run, 0.106 vs 0.062 in this test's): not asserted."""
    from genlab.tasks.reconstruct import latent_recovery, reconstruction_error

    model, datamodule, _ = trained(
        compose_cfg, tmp_path, cache_dir, "model=gan", "model/encoder=dcgan", "dataset=digits", "model.monitor=null", "trainer.max_epochs=40"
    )
    recovery = latent_recovery(model, 1000)
    assert recovery["encoder"] < 0.8 * recovery["zero_z"] < 0.5 * recovery["random_z"], recovery  # z' = 0 is the best blind guess
    x = datamodule.splits["test"][0].float() / 127.5 - 1
    errors = reconstruction_error(model, x, num_samples=10_000, iterations=100)
    assert errors["encoder_refined"] < min(0.7 * errors["random_refined"], 0.25 * errors["nearest_sample"]), errors


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_mnist_cgan_samples_vary_within_a_class_and_keep_their_class(compose_cfg, tmp_path, cache_dir, shared_mnist, one_thread):
    """8 epochs of `experiment=cgan_mnist` on the 8,000 t10k training digits (about 75 CPU-s).

    With the learned label embedding the DCGAN generator had before one-hot labels, this run drew one
    image per class (measured with this test's code on 41fdee4: recall 0.000, within-class pixel spread
    0.11-0.16 of the real digits'); with one-hot labels: recall 0.60, spread 0.76-0.92, label
    agreement 0.75 (benchmarks/README.md, "MNIST GAN recipes toward their floor")."""
    data = [f"dataset.data_dir={shared_mnist}", "dataset.train_split=t10k"]
    train(compose_cfg("experiment=cgan_mnist", *data, "trainer.max_epochs=8", "model.monitor=null", *QUIET))
    ckpt = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    model = load_model(tmp_path / "checkpoints" / "last.ckpt", ckpt=ckpt)
    datamodule, dataset_cfg = load_datamodule(ckpt)
    extractor = ClassifierFeatures().build(datamodule, dataset_key(dataset_cfg), cache_dir)
    real, real_labels = datamodule.splits["test"]  # the 2,000 held-out t10k digits
    real = real.float() / 127.5 - 1
    labels = torch.arange(len(real)) % 10
    fake = sample_labelled(model, labels, 500, torch.Generator().manual_seed(0))

    metric = ImprovedPrecisionRecall()
    with torch.no_grad():
        metric.update(extractor(to_unit(real))[0], real=True)
        metric.update(extractor(to_unit(fake))[0], real=False)
    precision, recall = (float(v) for v in metric.compute())
    # Real-vs-real on this protocol reads ~0.9 / 0.9; the generator with a learned label embedding: recall 0.000.
    assert recall >= 0.3 and precision >= 0.5, (precision, recall)

    # Pixel spread over samples of one class, against the real held-out digits of that class.
    spread = torch.stack([fake[labels == c].std(0).mean() / real[real_labels == c].std(0).mean() for c in range(10)])
    assert spread.min() >= 0.5, spread
    # Labels still steer after 8 epochs (0.75 measured; chance 0.10). The 40-epoch recipe: 0.97.
    assert label_agreement(model, extractor, 1000) >= 0.5
