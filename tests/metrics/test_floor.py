"""Real-vs-real floors: the same metric between the reference split and disjoint training images,
computed once and cached, reported as `<metric>_floor` beside every metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from genlab.data import DigitsDataModule
from genlab.eval import evaluate, format_table
from genlab.images import from_uint8
from genlab.metrics import ClassifierFeatures, MetricStream, SampleMetrics, dataset_key
from genlab.metrics.floor import FLOORED
from genlab.train import train
from tests.metrics.conftest import DIGITS_CONFIG
from tests.metrics.helpers import stream_of

N = 300
OPTIONS = {"num_samples": N, "kid_subsets": 10, "batch_size": 256}


class ImageSource:
    """A stand-in model whose samples are given images (uint8), drawn in order."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def metric_streams(self, datamodule, split: str, num_samples: int) -> list[MetricStream]:
        return [
            MetricStream(split, real=lambda: datamodule.dataset(split).images, fake=lambda idx, g: from_uint8(self.images[idx]), num_fake=num_samples)
        ]


def noise_images(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_every_metric_gets_a_floor_equal_to_the_metric_of_the_other_held_out_split(digits, digits_classifier, tmp_path):
    metrics = SampleMetrics(digits_classifier, "digits", cache_dir=tmp_path, **OPTIONS)
    values, protocols = metrics.evaluate(ImageSource(noise_images(N)), digits, "val")
    assert {f"{k}_floor" for k in FLOORED} <= values.keys()
    assert not any(k.endswith("_std_floor") for k in values)
    # By hand: the test split's images as the "generated" ones against the val split.
    test = digits.dataset("test").images
    stream = stream_of(digits.dataset("val").images, test, reference="val")
    hand = SampleMetrics(digits_classifier, "digits", **{**OPTIONS, "num_samples": len(test)})
    features, logits = hand.reference(stream)
    by_hand = hand.compute_stream(stream, features, "cpu", logits)
    for key in FLOORED:
        assert values[f"{key}_floor"] == pytest.approx(by_hand[key], rel=1e-5, abs=1e-7), key
    protocol = protocols["fid_floor"]
    assert (protocol["num_generated"], protocol["num_real"], protocol["reference_split"]) == (179, 179, "val")
    assert protocol["extractor"] == "classifier" and "179 images of split 'val' against the 179 of split 'test'" in protocol["floor"]


def test_without_a_disjoint_held_out_split_the_floor_compares_two_halves_of_the_reference(digits, digits_classifier, tmp_path):
    """MNIST's val and test are the same images: a floor between them would be 0."""

    class SameHeldOut(DigitsDataModule):
        def load_splits(self):
            splits = super().load_splits()
            return {**splits, "test": splits["val"]}

    metrics = SampleMetrics(digits_classifier, "digits", cache_dir=tmp_path, **OPTIONS)
    values, protocols = metrics.evaluate(ImageSource(noise_images(N)), SameHeldOut(image_size=16), "val")
    val = digits.dataset("val").images
    order = torch.randperm(len(val), generator=torch.Generator().manual_seed(0))
    stream = stream_of(val[order[:89]], val[order[89:178]], reference="val_half")
    hand = SampleMetrics(digits_classifier, "digits", **{**OPTIONS, "num_samples": 89})
    by_hand = hand.compute_stream(stream, *hand.reference(stream)[:1], "cpu", hand.reference(stream)[1])
    assert values["fid_floor"] == pytest.approx(by_hand["fid"], rel=1e-5) and values["fid_floor"] > 5
    assert "two disjoint random halves of split 'val' (89 vs 89 images, seed 0)" in protocols["fid_floor"]["floor"]


def test_held_out_real_images_score_near_the_floor_and_noise_far_above_it(digits, digits_classifier, tmp_path):
    """What the floor is for: a model that samples the data distribution sits at its floor."""
    test = digits.dataset("test").images
    metrics = SampleMetrics(digits_classifier, "digits", cache_dir=tmp_path, **{**OPTIONS, "num_samples": len(test)})
    real_model, _ = metrics.evaluate(ImageSource(test), digits, "val")
    noise, _ = metrics.evaluate(ImageSource(noise_images(len(test))), digits, "val")
    assert real_model["fid_floor"] == noise["fid_floor"] > 0  # one floor per reference and protocol
    assert 0.5 < real_model["fid"] / real_model["fid_floor"] < 2
    assert noise["fid"] / noise["fid_floor"] > 20


def test_the_floor_is_cached_next_to_the_reference_features_and_read_back(digits, digits_classifier, tmp_path):
    metrics = SampleMetrics(digits_classifier, "digits", cache_dir=tmp_path, **OPTIONS)
    first, _ = metrics.evaluate(ImageSource(noise_images(N)), digits, "val")
    [path] = (tmp_path / "reference").glob("*-floor-*.pt")
    assert path.name.startswith(f"digits-val-{digits_classifier.key}-floor-")
    saved = torch.load(path, weights_only=True)
    saved["values"]["fid"] = 123.0  # a doctored entry proves the next evaluation reads the file
    torch.save(saved, path)
    again, _ = metrics.evaluate(ImageSource(noise_images(N)), digits, "val")
    assert again["fid_floor"] == 123.0 and again["fid"] == first["fid"]
    # The floor does not depend on the model or on num_samples; another protocol has its own.
    more = SampleMetrics(digits_classifier, "digits", cache_dir=tmp_path, **{**OPTIONS, "num_samples": N + 1})
    assert more.evaluate(ImageSource(noise_images(N + 1)), digits, "val")[0]["fid_floor"] == 123.0
    other = SampleMetrics(digits_classifier, "digits", cache_dir=tmp_path, **{**OPTIONS, "precision_recall_k": 5})
    assert other.evaluate(ImageSource(noise_images(N)), digits, "val")[0]["fid_floor"] != 123.0


def test_a_reference_too_small_for_precision_recall_gets_no_floor(digits_classifier):
    real = noise_images(7)  # halves of 3 images: precision/recall's k=3 needs more
    metrics = SampleMetrics(digits_classifier, "digits", **{**OPTIONS, "num_samples": 7})

    class Tiny:
        def metric_streams(self, datamodule, split, num_samples):
            return [stream_of(real, noise_images(7))]

    values, _ = metrics.evaluate(Tiny(), None, "val")
    assert "fid" in values and not any(k.endswith("_floor") for k in values)


def ddp_worker(rank: int, port: int, out: str, cache: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        Path(out, f"rank{rank}.json").write_text(json.dumps(evaluate_floor(cache, out)))
    finally:
        dist.destroy_process_group()


def evaluate_floor(classifier_cache: str, cache: str) -> dict[str, float]:
    dm = DigitsDataModule(image_size=16)
    extractor = ClassifierFeatures().build(dm, dataset_key(DIGITS_CONFIG), classifier_cache)
    metrics = SampleMetrics(extractor, "digits", cache_dir=Path(cache, "cache"), **OPTIONS)
    return metrics.evaluate(ImageSource(noise_images(N)), dm, "val")[0]


@pytest.mark.slow
def test_floors_and_coverage_under_two_gloo_processes_equal_one_process(digits_classifier, metrics_cache, tmp_path):
    from tests.metrics.test_ddp import free_port

    (tmp_path / "one").mkdir()
    mp.spawn(ddp_worker, args=(free_port(), str(tmp_path), str(metrics_cache)), nprocs=2, join=True)
    single = evaluate_floor(str(metrics_cache), str(tmp_path / "one"))
    for rank in (0, 1):
        distributed = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert distributed.keys() == single.keys()
        for key, value in single.items():
            assert distributed[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def test_genlab_eval_prints_each_metric_next_to_its_floor_and_writes_both(compose_cfg, tmp_path, metrics_cache, one_thread):
    run = compose_cfg(
        "debug=limit", "trainer.max_epochs=1", "logger=[]", "callbacks.sample_metrics=null", "callbacks.sample_grid=null", "model.monitor=null"
    )
    train(run)
    cfg = compose_cfg(
        f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}",
        "metrics.num_samples=200",
        "metrics.kid_subsets=10",
        f"metrics.cache_dir={metrics_cache}",
        "logger=[]",
        config_name="eval",
    )
    results = evaluate(cfg)
    assert results["test/fid_floor"]["name"] == "classifier FID, real-vs-real floor"
    assert "'test' against the 179 of split 'val'" in results["test/fid_floor"]["protocol"]["floor"]
    record = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert {"test/fid_floor", "test/kid_mean_floor", "test/precision_floor", "test/recall_floor", "test/class_kl_floor"} <= record.keys()
    lines = format_table(results).splitlines()
    assert lines[0].split() == ["metric", "key", "value", "real-vs-real", "floor"]
    fid_row = next(line for line in lines if " test/fid " in line)
    assert fid_row.split()[-2:] == [f"{results['test/fid']['value']:.4f}", f"{results['test/fid_floor']['value']:.4f}"]
    assert not any("_floor" in line.split()[2] for line in lines[1:] if line.startswith("classifier"))  # no rows of their own
    assert any(line.startswith("floor: real vs real: 179 images of split 'test'") for line in lines)


def test_training_logs_floors_and_coverage_in_metrics_jsonl(compose_cfg, tmp_path, metrics_cache, one_thread):
    cfg = compose_cfg(
        "debug=limit",
        "trainer.max_epochs=1",
        "logger=[]",
        "callbacks.sample_grid=null",
        "metrics.num_samples=200",
        "metrics.kid_subsets=10",
        f"metrics.cache_dir={metrics_cache}",
    )
    train(cfg)
    [record] = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    values = record["values"]
    assert {"val/fid", "val/fid_floor", "val/kid_mean_floor", "val/class_kl", "val/max_class_share", "val/classes_below_half"} <= values.keys()
    assert values["val/fid_floor"] < values["val/fid"]  # a few batches of training are far from real
    assert record["protocol"]["fid_floor"]["floor"].startswith("real vs real: 179 images of split 'val' against the 179 of split 'test'")
