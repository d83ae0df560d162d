"""End to end: a short GAN training logs val/fid and keeps the best checkpoint by it; genlab-eval
evaluates that checkpoint on the test split with every number's protocol; FID ranks it below an
untrained GAN; `metrics/features=inception` fails at start-up without the optional extra."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from genlab.checkpoint import load_model, read_checkpoint
from genlab.metrics import SampleMetrics
from tests.conftest import run_script

FAST = ["metrics.num_samples=300", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory: pytest.TempPathFactory, metrics_cache: Path, digits_classifier) -> Path:
    """A 3-epoch GAN run on digits (12 batches an epoch) computing val/fid every epoch, sharing the
    session's classifier cache."""
    run_dir = tmp_path_factory.mktemp("gan_run")
    result = run_script(
        "train",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=12",
        "metrics.every_n_epochs=1",
        f"paths.cache_dir={metrics_cache}",
        f"hydra.run.dir={run_dir}",
        *FAST,
        cwd=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_training_logs_val_fid_each_epoch_and_keeps_the_best_checkpoint(gan_run: Path) -> None:
    records = [json.loads(line) for line in (gan_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2]
    fids = [r["values"]["val/fid"] for r in records]
    best = read_checkpoint(gan_run / "checkpoints" / "best.ckpt")
    callback_state = next(v for k, v in best["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert callback_state["monitor"] == "val/fid"
    assert float(callback_state["best_model_score"]) == pytest.approx(min(fids), rel=1e-5)
    assert records[0]["protocol"]["fid"]["extractor"] == "classifier"
    assert records[0]["protocol"]["fid"]["num_generated"] == 300


def test_fid_ranks_the_trained_gan_below_an_untrained_one(gan_run: Path, digits_classifier, digits) -> None:
    trained = load_model(gan_run / "checkpoints" / "last.ckpt")
    torch.manual_seed(0)
    untrained = instantiate(read_checkpoint(gan_run / "checkpoints" / "last.ckpt")["genlab"]["model"]).eval()
    metrics = SampleMetrics(digits_classifier, "digits", num_samples=300)
    fid = {name: metrics.evaluate(model, digits, "val")[0]["fid"] for name, model in (("trained", trained), ("untrained", untrained))}
    assert fid["trained"] < fid["untrained"], fid


def test_genlab_eval_writes_a_table_and_metrics_json_with_protocols(gan_run: Path, metrics_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = run_script(
        "eval",
        f"ckpt_path={gan_run / 'checkpoints' / 'best.ckpt'}",
        "metrics.num_samples=300",
        f"paths.cache_dir={metrics_cache}",
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "classifier FID" in result.stdout and "Inception FID" not in result.stdout
    record = json.loads((out / "metrics.json").read_text())
    assert record["split"] == "test"
    fid = record["metrics"]["test/fid"]
    assert fid["name"] == "classifier FID" and fid["value"] > 0
    assert {"extractor", "accuracy", "num_generated", "num_real", "reference_split", "resizing"} <= fid["protocol"].keys()
    assert fid["protocol"]["num_generated"] == 300 and fid["protocol"]["reference_split"] == "test"
    assert {"test/kid_mean", "test/is_mean", "test/precision", "test/recall"} <= record["metrics"].keys()
    assert "test/fid" in (out / "metrics.csv").read_text()  # the configured logger got the numbers too


def test_inception_features_without_the_extra_fail_at_start_up_in_one_sentence(tmp_path: Path) -> None:
    result = run_script("train", "metrics/features=inception", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("genlab: error:")]
    assert len(error_lines) == 1 and "pip install 'genlab[inception]'" in error_lines[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "checkpoints").exists()
