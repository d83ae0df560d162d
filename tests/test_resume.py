"""Runs survive faults: `kill -9` mid-epoch, then `ckpt_path=...` resumes exactly (torch, numpy and python RNG states, data order and loop counters restored)."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest
import torch
import yaml

from genlab.errors import ConfigError
from genlab.train import resolve_resume, train
from tests.conftest import REPO
from tests.wandb_records import history

# A GAN on digits: 6 batches per epoch, last.ckpt refreshed every 2 batches, no sample metrics.
RUN = [
    "model.monitor=null",
    "~callbacks.sample_metrics",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=6",
    "trainer.limit_val_batches=1",
    "dataset.batch_size=32",
    "callbacks.model_checkpoint.last_every_n_batches=2",
    "trainer.log_every_n_steps=1",
]
KILL = ["+callbacks.kill._target_=tests.faults.KillAt", "+callbacks.kill.epoch=1", "+callbacks.kill.batch=5"]
# All three dashboards; CSV rows reach the file every step, so the killed run leaves rows after its checkpoint.
LOGGERS = ["logger=many", "+logger.csv.flush_logs_every_n_steps=1"]
ENV = {"PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "WANDB_API_KEY": ""}


def csv_rows(run: Path) -> list[dict]:
    with (run / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def tensorboard_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard shows: every scalar tag's (step, value) points, purged restarts applied."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), purge_orphaned_data=True).Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def wandb_history(segment: Path) -> list[dict]:
    (run_file,) = segment.glob("run-*.wandb")
    return history(run_file)


def final_state(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_as_an_uninterrupted_run(cli, tmp_path):
    reference = cli("train", *RUN, *LOGGERS, f"hydra.run.dir={tmp_path / 'reference'}", env=ENV)
    assert reference.returncode == 0, reference.stderr[-3000:]

    run = tmp_path / "run"
    killed = cli("train", *RUN, *KILL, *LOGGERS, f"hydra.run.dir={run}", env=ENV)
    assert killed.returncode == -signal.SIGKILL
    assert final_state(run)["global_step"] == 2 * (6 + 4)  # saved after batches 0-3 of epoch 1, killed in batch 5
    assert csv_rows(run)[-1]["step"] == "10"  # batch 4 of epoch 1 was logged after that checkpoint

    # The explicit path is enough: the resumed run continues in the checkpoint's run dir.
    resumed = cli("train", *RUN, *LOGGERS, f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", env=ENV)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.strip().splitlines()[-1] == f"genlab: outputs in {run}"

    expected, got = final_state(tmp_path / "reference"), final_state(run)
    assert expected["global_step"] == got["global_step"] == 2 * 12  # G and D steps of 2 x 6 batches
    assert expected["state_dict"].keys() == got["state_dict"].keys()
    for key, value in expected["state_dict"].items():
        assert torch.equal(value, got["state_dict"][key]), key  # generator, discriminator and EMA
    for opt_expected, opt_got in zip(expected["optimizer_states"], got["optimizer_states"]):
        for param, state in opt_expected["state"].items():
            assert all(torch.equal(v, opt_got["state"][param][k]) for k, v in state.items())

    # Dashboards continue too: one wandb run (two offline segments, same id), TensorBoard and CSV in the run dir.
    # The killed run's segment is kept aside; the resumed one holds the whole history (replayed).
    segments = sorted((run / "wandb").glob("offline-run-*"))
    superseded = sorted((run / "wandb" / "superseded").glob("offline-run-*"))
    assert len(segments) == len(superseded) == 1 and len({p.name.rsplit("-", 1)[-1] for p in segments + superseded}) == 1
    assert list((run / "tensorboard").glob("events.out.tfevents.*")) and (run / "metrics.csv").is_file()
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["run"]["git_commit"] and "ckpt_path=" in " ".join(hparams["run"]["overrides"])
    assert "${" not in (run / "hparams.yaml").read_text()  # logged resolved

    # ... and hold every step once: the same records as the uninterrupted run (bit-identical on CPU).
    assert csv_rows(run) == csv_rows(tmp_path / "reference")
    assert tensorboard_scalars(run) == tensorboard_scalars(tmp_path / "reference")

    def wandb_losses(segment: Path) -> dict[int, dict[str, float]]:
        rows = [r for r in wandb_history(segment) if "train/loss_d" in r]
        assert len({r["trainer/global_step"] for r in rows}) == len(rows), "a step logged twice"
        return {r["trainer/global_step"]: {k: v for k, v in r.items() if k.startswith("train/")} for r in rows}

    (reference_segment,) = (tmp_path / "reference" / "wandb").glob("offline-run-*")
    assert wandb_losses(segments[0]) == wandb_losses(reference_segment)
    assert sorted(wandb_losses(segments[0])) == list(range(12))


def test_ckpt_path_last_needs_a_run_dir_with_a_checkpoint(compose_cfg, tmp_path):
    cfg = compose_cfg("ckpt_path=last")  # run dir: tmp_path, no checkpoints/ in it
    with pytest.raises(ConfigError, match=r"ckpt_path=last: no .*last.ckpt; pass the run dir to resume with hydra.run.dir=<run dir>"):
        resolve_resume(cfg)


def run_records(run: Path) -> dict[Path, bytes]:
    """Every file a run dir holds, .hydra/ (the overrides that made the run) and the log included."""
    return {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}


def test_a_new_run_in_a_dir_that_holds_a_run_is_refused_and_leaves_the_run_as_it_was(cli, tmp_path):
    run = tmp_path / "run"
    first = cli("train", *RUN, "trainer.max_epochs=1", f"hydra.run.dir={run}")
    assert first.returncode == 0, first.stderr[-2000:]
    # Every genlab run dir holds .hydra/ and train.log before the first row: Lightning's CSV writer
    # warned on every run that "previous log files will be deleted" although there were none.
    assert "will be deleted" not in first.stderr
    before = run_records(run)
    assert {"checkpoints/last.ckpt", "metrics.csv", "config.yaml", ".hydra/overrides.yaml", "train.log"} <= {
        str(path.relative_to(run)) for path in before
    }

    again = cli("train", *RUN, "trainer.max_epochs=2", f"hydra.run.dir={run}")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert f"hydra.run.dir={run} already holds a run (checkpoints/last.ckpt, metrics.csv" in again.stderr
    assert "resume it with ckpt_path=last, or start in a new dir (hydra.run.dir=...)" in again.stderr
    assert run_records(run) == before


@pytest.mark.slow  # the in-process test in tests/callbacks/test_faults.py is the quick one
def test_a_nan_loss_stops_a_run_with_one_sentence_naming_the_step_and_the_loss(cli, tmp_path):
    result = cli("train", "model=vae", "model.lr=1e9", "debug=limit", "~callbacks.sample_metrics", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "genlab: error: train/" in result.stderr and "global step" in result.stderr


def test_a_new_run_whose_paths_output_dir_holds_a_run_is_refused_before_anything_is_written(compose_cfg, tmp_path):
    # paths.output_dir may point elsewhere than hydra.run.dir (which RunDirGuard checks): train checks it too.
    other = tmp_path / "other"
    (other / "checkpoints").mkdir(parents=True)
    (other / "checkpoints" / "best.ckpt").write_bytes(b"a run's weights")
    with pytest.raises(ConfigError, match=rf"^paths.output_dir={other} already holds a run \(checkpoints/best.ckpt\)"):
        train(compose_cfg(f"paths.output_dir={other}"))
    assert sorted(other.rglob("*")) == [other / "checkpoints", other / "checkpoints" / "best.ckpt"]
    assert (other / "checkpoints" / "best.ckpt").read_bytes() == b"a run's weights"


def test_ckpt_path_auto_resumes_when_the_run_dir_has_a_last_ckpt_and_starts_afresh_otherwise(compose_cfg, tmp_path):
    cfg = compose_cfg("ckpt_path=auto")  # run dir: tmp_path
    assert resolve_resume(cfg) is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert resolve_resume(cfg) == str(tmp_path / "checkpoints" / "last.ckpt")


@pytest.mark.slow
def test_two_process_ddp_runs_resume_to_the_same_weights_as_an_uninterrupted_one(cli, tmp_path):
    """trainer=ddp_cpu (SeparateDDPStrategy, 2 gloo processes), resumed with ckpt_path=last after
    (a) a clean stop at the end of epoch 1 and (b) SIGKILL of both ranks mid-epoch 2: weights, EMA and
    optimizer states equal the uninterrupted run's."""
    ddp = ["trainer=ddp_cpu", "dataset.batch_size=16", "logger=csv", "trainer.enable_progress_bar=false"]
    reference = cli("train", *RUN, *ddp, f"hydra.run.dir={tmp_path / 'reference'}", env=ENV)
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = final_state(tmp_path / "reference")
    assert expected["global_step"] == 2 * 12

    stopped, killed = tmp_path / "stopped", tmp_path / "killed"
    first = cli("train", *RUN, *ddp, "trainer.max_epochs=1", f"hydra.run.dir={stopped}", env=ENV)
    assert first.returncode == 0, first.stderr[-3000:]
    assert final_state(stopped)["global_step"] == 2 * 6
    crash = cli("train", *RUN, *ddp, *KILL, f"hydra.run.dir={killed}", env=ENV)  # every rank kills itself at batch 4
    assert crash.returncode == -signal.SIGKILL
    assert final_state(killed)["global_step"] == 2 * (6 + 4)

    for run in (stopped, killed):
        resumed = cli("train", *RUN, *ddp, "ckpt_path=last", f"hydra.run.dir={run}", env=ENV)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        got = final_state(run)
        assert got["global_step"] == expected["global_step"]
        for key, value in expected["state_dict"].items():
            assert torch.equal(value, got["state_dict"][key]), (run.name, key)
        for opt_expected, opt_got in zip(expected["optimizer_states"], got["optimizer_states"]):
            for param, state in opt_expected["state"].items():
                assert all(torch.equal(v, opt_got["state"][param][k]) for k, v in state.items()), run.name
