"""dataset=streaming (litdata shards): written once from an image folder, read back exactly; under 2 DDP
processes each rank gets its own samples covering the epoch, and a run killed mid-epoch resumes the order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genlab.data.folder import ImageFolderDataModule
from genlab.errors import ConfigError
from genlab.prepare import prepare_dataset
from genlab.train import train
from tests.conftest import REPO
from tests.data.fixtures import mnist_t10k, write_class_folders

litdata = pytest.importorskip("litdata")


def digit_tree(root: Path, n_train: int = 64, n_val: int = 16) -> Path:
    """root/{train,val}/<digit>/<index>.png from MNIST t10k (PNG: exact pixels)."""
    images, labels = mnist_t10k(n_train + n_val)
    names = [str(d) for d in range(10)]
    write_class_folders(root / "train", images[:n_train], labels[:n_train], names=names)
    write_class_folders(root / "val", images[n_train:], labels[n_train:], names=names, start=n_train)
    return root


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[Path, Path]:
    """(image folder, shards written from it by genlab-prepare's code path)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genlab.configs import config_dir

    tmp = tmp_path_factory.mktemp("stream")
    source = digit_tree(tmp / "digits")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(
            "prepare",
            overrides=[
                "dataset=streaming",
                f"dataset.source_dir={source}",
                f"dataset.data_dir={tmp / 'shards'}",
                "dataset.image_size=28",
                "dataset.channels=1",
            ],
        )
    GlobalHydra.instance().clear()
    assert prepare_dataset(cfg).startswith("genlab: litdata shards")
    return source, tmp / "shards"


def test_shards_hold_the_folder_images_and_labels_exactly(shards, tmp_path):
    from genlab.data.stream import StreamingImageDataModule

    source, data_dir = shards
    folder = ImageFolderDataModule(str(source), image_size=28, channels=1, cache_dir=str(tmp_path))
    folder.setup()
    stream = StreamingImageDataModule(str(data_dir), image_size=28, channels=1, batch_size=8)
    stream.setup()
    assert stream.num_classes == folder.num_classes == 10
    for split in ("val", "test"):  # in memory, in file order, like the folder's
        assert torch.equal(stream.splits[split][0], folder.splits[split][0]) and torch.equal(stream.splits[split][1], folder.splits[split][1])
    classifier_train = stream.classifier_dataset("train")  # the stream's first training images, in memory
    assert torch.equal(classifier_train.images, folder.splits["train"][0]) and torch.equal(classifier_train.labels, folder.splits["train"][1])
    served = torch.cat([images for images, _ in stream.train_dataloader()])
    expected = folder.splits["train"][0].float() / 127.5 - 1
    assert sorted(map(bytes, ((served + 1) * 127.5).round().to(torch.uint8).numpy())) == sorted(map(bytes, folder.splits["train"][0].numpy()))
    assert served.shape == expected.shape


def test_shards_at_another_size_or_a_folder_without_shards_are_refused(shards, tmp_path):
    from genlab.data.stream import StreamingImageDataModule

    with pytest.raises(ConfigError, match="the shards in .* hold 28 px, 1 channels"):
        StreamingImageDataModule(str(shards[1]), image_size=32, channels=1).setup()
    with pytest.raises(ConfigError, match="no litdata shards"):
        StreamingImageDataModule(str(tmp_path), image_size=28, channels=1)


def test_a_cgan_trains_an_epoch_from_shards(compose_cfg, shards, tmp_path, one_thread):
    cfg = compose_cfg(
        "model=cgan",
        "model.monitor=null",
        "dataset=streaming",
        f"dataset.data_dir={shards[1]}",
        "dataset.image_size=28",
        "dataset.channels=1",
        "dataset.batch_size=16",
        "debug=limit",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=1",
        "~callbacks.sample_metrics",
        "logger=[]",
    )
    train(cfg)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def records(path: Path) -> dict[tuple[int, int], list[str]]:
    """{(epoch, batch): digests} from one rank's RecordBatches file (a re-run batch: its last record)."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {(row["epoch"], row["batch"]): row["items"] for row in rows}


@pytest.mark.slow
def test_two_ddp_ranks_read_disjoint_samples_covering_each_epoch_and_resume_mid_epoch_in_order(cli, shards, tmp_path):
    run = [
        "model=vae",
        "model.nll_samples=2",
        "trainer=ddp_cpu",
        "dataset=streaming",
        f"dataset.data_dir={shards[1]}",
        "dataset.image_size=28",
        "dataset.channels=1",
        "dataset.batch_size=8",
        "trainer.max_epochs=2",
        "trainer.limit_val_batches=1",
        "~callbacks.sample_metrics",
        "callbacks.model_checkpoint.last_every_n_batches=2",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "+callbacks.record._target_=tests.data.fixtures.RecordBatches",
    ]
    env = {"PYTHONPATH": str(REPO)}
    reference = cli("train", *run, f"+callbacks.record.path={tmp_path / 'reference'}", f"hydra.run.dir={tmp_path / 'ref_run'}", env=env)
    assert reference.returncode == 0, reference.stderr[-3000:]
    ranks = [records(tmp_path / f"reference.{rank}") for rank in (0, 1)]
    for epoch in (0, 1):
        seen = [[d for (e, _), items in r.items() if e == epoch for d in items] for r in ranks]
        assert not set(seen[0]) & set(seen[1]), f"epoch {epoch}: the ranks share samples"
        assert len(seen[0]) == len(seen[1]) == 32 and len(set(seen[0]) | set(seen[1])) == 64  # every training image once
    assert [d for (e, _), i in ranks[0].items() if e == 0 for d in i] != [d for (e, _), i in ranks[0].items() if e == 1 for d in i]

    kill = ["+callbacks.kill._target_=tests.faults.KillAt", "+callbacks.kill.epoch=1", "+callbacks.kill.batch=3"]
    killed_run = [*run, f"+callbacks.record.path={tmp_path / 'resumed'}", f"hydra.run.dir={tmp_path / 'killed'}"]
    crash = cli("train", *killed_run, *kill, env=env)
    assert crash.returncode != 0
    (tmp_path / "resumed.0").rename(tmp_path / "before_kill.0")
    (tmp_path / "resumed.1").rename(tmp_path / "before_kill.1")
    resumed = cli("train", *killed_run, "ckpt_path=last", env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for rank in (0, 1):
        after = records(tmp_path / f"resumed.{rank}")
        assert min(after) == (1, 2)  # last.ckpt after batches 0-1 of epoch 1: the resumed run starts at batch 2
        assert after == {key: items for key, items in ranks[rank].items() if key >= (1, 2)}  # the same samples, in the same order


def test_a_model_that_reads_the_training_split_gets_one_sentence(compose_cfg, shards):
    # PixelRNN checks its levels against the training images, which a stream never holds in memory.
    cfg = compose_cfg(
        "model=rnn", "dataset=streaming", f"dataset.data_dir={shards[1]}", "dataset.image_size=28", "dataset.channels=1", "debug=fdr", "logger=[]"
    )
    with pytest.raises(ConfigError, match="dataset=streaming holds only val and test in memory, not 'train'"):
        train(cfg)
