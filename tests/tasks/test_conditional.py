"""labels=/label= for conditional models (cGAN, conditional VAE and PixelRNN), a clear error otherwise,
classifier-free guidance for the conditional PixelRNN (guidance=), and format=folder: labelled samples as a class-per-folder tree that dataset=image_folder reads back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from genlab.errors import ConfigError
from genlab.sample import sample
from tests.tasks.checkpoints import build, save

CGAN = ["model=cgan", "dataset=digits", "model.generator.width=8", "model.discriminator.width=8"]
CVAE = ["model=cvae", "dataset=digits", "model.encoder.width=8", "model.decoder.width=8", "model.nll_samples=3"]
VAE = ["model=vae", "dataset=digits", "model.encoder.width=8", "model.decoder.width=8"]


def run(compose_cfg, ckpt, out, *extra):
    return sample(compose_cfg(f"ckpt_path={ckpt}", f"out={out}", *extra, config_name="sample"))


@pytest.mark.parametrize("family", [CGAN, CVAE], ids=["cgan", "cvae"])
def test_labels_draw_one_sample_per_requested_class_and_depend_on_it(compose_cfg, tmp_path, family):
    ckpt = save(build(compose_cfg, *family), tmp_path / "m.ckpt")
    run(compose_cfg, ckpt, tmp_path / "a", "labels=[3,3,7]")
    run(compose_cfg, ckpt, tmp_path / "b", "labels=[3,3,8]")
    a, b = (np.load(tmp_path / d / "samples.npz") for d in "ab")
    assert a["images"].shape == (3, 16, 16, 1) and a["labels"].tolist() == [3, 3, 7]
    # Same seed, same noise: only the label changed, and only that sample changes.
    np.testing.assert_array_equal(a["images"][:2], b["images"][:2])
    assert not np.array_equal(a["images"][2], b["images"][2])
    run(compose_cfg, ckpt, tmp_path / "c", "label=4", "num_samples=5")
    assert np.load(tmp_path / "c" / "samples.npz")["labels"].tolist() == [4] * 5


def test_labels_for_an_unconditional_model_are_refused_in_one_sentence(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *VAE), tmp_path / "v.ckpt")
    with pytest.raises(ConfigError, match="label: VAE models here are unconditional"):
        run(compose_cfg, ckpt, tmp_path / "out", "label=3")


def test_labels_outside_the_models_classes_are_refused(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *CGAN), tmp_path / "g.ckpt")
    with pytest.raises(ConfigError, match="labels must be in 0..9 \\(the model's 10 classes\\)"):
        run(compose_cfg, ckpt, tmp_path / "out", "labels=[3,10]")


def test_conditional_vae_trains_on_labelled_batches_and_scores_its_elbo_per_class(compose_cfg, one_thread):
    model = build(compose_cfg, *CVAE)
    x, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 3])
    model.batch_labels = y
    rec_right, _ = model.elbo_terms(x)
    assert model.importance_nll(x, 3).shape == (4,)  # K latents per image decode with their image's label
    model.batch_labels = (y + 1) % 10
    rec_other, _ = model.elbo_terms(x)
    assert not torch.allclose(rec_right, rec_other)  # the label enters the likelihood


def test_format_folder_writes_a_class_per_folder_tree_that_image_folder_reads_back(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *CGAN), tmp_path / "g.ckpt")
    paths = run(compose_cfg, ckpt, tmp_path / "out", "format=folder", "num_samples=30")
    written = np.load(tmp_path / "out" / "samples.npz")
    assert sorted(p.name for p in paths["folder"].iterdir()) == [str(k) for k in range(10)]
    cfg = compose_cfg(
        "dataset=image_folder",
        f"dataset.data_dir={paths['folder']}",
        "dataset.image_size=16",
        "dataset.channels=1",
        f"dataset.cache_dir={tmp_path / 'cache'}",
    )
    datamodule = instantiate(cfg.dataset)
    datamodule.setup()
    assert datamodule.num_classes == 10
    images = torch.cat([datamodule.splits[s][0] for s in ("train", "val")])
    labels = torch.cat([datamodule.splits[s][1] for s in ("train", "val")])
    assert sorted(labels.tolist()) == sorted(written["labels"].tolist())
    # Every image read back is one that was written, under its label (PNG is lossless).
    originals = {(int(label), arr.tobytes()) for arr, label in zip(written["images"][..., 0], written["labels"])}
    assert {(int(label), img[0].numpy().tobytes()) for img, label in zip(images, labels)} <= originals


def test_format_folder_needs_a_conditional_model(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *VAE), tmp_path / "v.ckpt")
    with pytest.raises(ConfigError, match="format=folder: writes labelled samples"):
        run(compose_cfg, ckpt, tmp_path / "out", "format=folder")


CRNN = ["experiment=pixelrnn_digits", "model.hidden=8", "model.layers=2", "model.num_classes=10"]


def test_class_conditional_pixelrnn_row_sampler_draws_what_the_full_network_does_for_each_label(compose_cfg, one_thread):
    model = build(compose_cfg, *CRNN)
    with torch.no_grad():  # untrained embeddings start at zero: give the labels an effect
        for embedding in [model.net.label_bias, *model.net.gate_bias]:
            embedding.weight.normal_()
    labels = torch.tensor([3, 7])
    fast = model.sample(2, torch.Generator().manual_seed(0), labels=labels)
    naive = model.sample_naive(2, torch.Generator().manual_seed(0), labels=labels)
    torch.testing.assert_close(fast, naive, atol=0, rtol=0)
    other = model.sample(2, torch.Generator().manual_seed(0), labels=torch.tensor([4, 8]))
    assert not torch.equal(fast, other)
    model.batch_labels = labels
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    right = model.nll(x)
    model.batch_labels = torch.tensor([4, 8])
    assert not torch.allclose(right, model.nll(x))  # the likelihood is conditional


def test_labels_select_the_class_of_a_conditional_pixelrnn_through_genlab_sample(compose_cfg, tmp_path):
    ckpt = save(build(compose_cfg, *CRNN), tmp_path / "r.ckpt")
    run(compose_cfg, ckpt, tmp_path / "out", "labels=[1,9]")
    assert np.load(tmp_path / "out" / "samples.npz")["labels"].tolist() == [1, 9]


def conditional_rnn_with_null_class(compose_cfg, *extra):
    model = build(compose_cfg, *CRNN, "model.label_dropout=0.1", *extra)
    with torch.no_grad():  # untrained embeddings start at zero: give the labels (and "no label") an effect
        for embedding in [model.net.label_bias, *model.net.gate_bias]:
            embedding.weight.normal_()
    return model


def test_guided_pixelrnn_samples_match_the_full_network_and_guidance_0_is_the_unconditional_model(compose_cfg, one_thread):
    model = conditional_rnn_with_null_class(compose_cfg)
    labels = torch.tensor([3, 7])
    draws = {}
    for guidance in (0.0, 1.0, 3.0):
        model.guidance = guidance
        draws[guidance] = model.sample(2, torch.Generator().manual_seed(0), labels=labels)
        naive = model.sample_naive(2, torch.Generator().manual_seed(0), labels=labels)
        torch.testing.assert_close(draws[guidance], naive, atol=0, rtol=0)
    assert not torch.equal(draws[1.0], draws[3.0])
    # Guidance 0 draws from the "no label" class: the same images whatever the labels asked for.
    model.guidance = 0.0
    null = torch.full((2,), model.net.null_label)
    u = model._uniforms(2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(draws[0.0], model.net.sample(u, labels=null), atol=0, rtol=0)


def test_label_dropout_scores_that_fraction_of_training_images_without_their_label_and_none_at_evaluation(compose_cfg, one_thread):
    model = build(compose_cfg, *CRNN, "model.label_dropout=0.5")
    assert model.net.label_bias.num_embeddings == 11  # ten classes and "no label"
    x, y = torch.rand(64, 1, 8, 8) * 2 - 1, torch.arange(64) % 10
    model.batch_labels = y
    torch.manual_seed(0)
    trained = model.train().nll(x)
    torch.manual_seed(0)
    dropped = torch.rand(64) < 0.5
    assert 16 < int(dropped.sum()) < 48
    expected = -model.net.log_prob(x, torch.where(dropped, model.net.null_label, y))
    torch.testing.assert_close(trained, expected)
    torch.testing.assert_close(model.eval().nll(x), -model.net.log_prob(x, y))


def test_guidance_without_a_null_class_or_labels_is_refused_in_one_sentence(compose_cfg, tmp_path):
    with pytest.raises(ConfigError, match="model.label_dropout=0.1: only a class-conditional PixelRNN drops labels"):
        build(compose_cfg, "experiment=pixelrnn_digits", "model.hidden=8", "model.layers=2", "model.label_dropout=0.1")
    with pytest.raises(
        ConfigError, match="guidance=3.0: classifier-free guidance needs a class-conditional PixelRNN trained with model.label_dropout"
    ):
        build(compose_cfg, *CRNN, "model.guidance=3")
    plain = save(build(compose_cfg, *CRNN), tmp_path / "r.ckpt")
    with pytest.raises(ConfigError, match="guidance=2.0: classifier-free guidance needs"):
        run(compose_cfg, plain, tmp_path / "out", "labels=[1]", "guidance=2")
    vae = save(build(compose_cfg, *CVAE), tmp_path / "v.ckpt")
    with pytest.raises(ConfigError, match="guidance=2.0: classifier-free guidance is a class-conditional PixelRNN's"):
        run(compose_cfg, vae, tmp_path / "out", "labels=[1]", "guidance=2")


def test_genlab_sample_guidance_changes_a_guided_pixelrnns_draws(compose_cfg, tmp_path):
    ckpt = save(conditional_rnn_with_null_class(compose_cfg), tmp_path / "g.ckpt")
    for name, guidance in [("plain", "1"), ("guided", "3")]:
        run(compose_cfg, ckpt, tmp_path / name, "labels=[1,9,4]", f"guidance={guidance}")
    plain, guided = (np.load(tmp_path / d / "samples.npz")["images"] for d in ("plain", "guided"))
    assert plain.shape == guided.shape == (3, 8, 8, 1) and not np.array_equal(plain, guided)


def test_classification_accuracy_score_of_an_untrained_conditional_model_is_near_chance_beside_real_data(compose_cfg, one_thread):
    from hydra.utils import instantiate as build_data

    from genlab.tasks.score import classification_accuracy_score

    model = build(compose_cfg, *CVAE)
    datamodule = build_data(compose_cfg(*CVAE).dataset)
    datamodule.setup()
    scores = classification_accuracy_score(model.eval(), datamodule, n=500)
    assert scores["real"] > 0.85 and scores["cas"] < 0.3, scores
