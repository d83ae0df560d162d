"""Doctored checkpoints: no path that reads one (genlab-sample, genlab-eval, resuming genlab-train)
runs code, writes anything, or answers with more than one sentence.

Each doctored file names code that would create a marker file if it ran: a `_target_` that Hydra's
own blocklist lets through (pathlib.Path.touch, numpy.save, torch.load of a pickle), in the saved
model or dataset config, or a pickle payload in the checkpoint itself; then truncated files and
checkpoints of another family.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from genlab.errors import ConfigError
from genlab.eval import evaluate
from genlab.sample import sample
from genlab.train import build_model, train


class Payload:
    """Unpickling this runs `touch <marker>`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def doctored_targets(marker: Path, tmp_path: Path) -> dict[str, dict[str, Any]]:
    payload = tmp_path / "payload.pkl"
    payload.write_bytes(pickle.dumps(Payload(marker)))
    return {
        "Path.touch": {"_target_": "pathlib.Path.touch", "_args_": [str(marker)]},
        "numpy.save": {"_target_": "numpy.save", "file": str(marker), "arr": [1, 2]},
        "torch.load": {"_target_": "torch.load", "f": str(payload), "weights_only": False},
    }


def write_checkpoint(path: Path, genlab: dict[str, Any], state_dict: dict[str, Any], **extra: Any) -> Path:
    torch.save({"genlab": genlab, "state_dict": state_dict, **extra}, path)
    return path


BUILT: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}


@pytest.fixture
def checkpoints(compose_cfg, tmp_path) -> Callable[[str], dict[str, Path]]:
    """family -> {case: path}: one honest checkpoint and the doctored ones, for a freshly built model."""

    def make(model: str) -> dict[str, Path]:
        overrides = (
            ("model=cyclegan", "dataset=textures", "dataset.train_crops=8", "dataset.test_crops=4") if model == "cyclegan" else (f"model={model}",)
        )
        if model not in BUILT:  # building a model (and its dataset config) once per family is enough
            built = build_model(compose_cfg(*overrides))
            BUILT[model] = built.genlab_config, built.state_dict()
        genlab, state = BUILT[model]
        marker = tmp_path / "marker"
        cases = {"honest": write_checkpoint(tmp_path / f"{model}.ckpt", genlab, state)}
        for name, target in doctored_targets(marker, tmp_path).items():
            cases[f"dataset {name}"] = write_checkpoint(tmp_path / f"dataset-{name}.ckpt", {**genlab, "dataset": target}, state)
            nested = {**genlab["model"], "generator": target}  # deep inside the model config
            cases[f"model {name}"] = write_checkpoint(tmp_path / f"model-{name}.ckpt", {**genlab, "model": nested}, state)
        cases["pickle payload"] = write_checkpoint(tmp_path / "pickle.ckpt", genlab, state, callbacks=Payload(marker))
        honest = cases["honest"].read_bytes()
        (tmp_path / "truncated.ckpt").write_bytes(honest[: len(honest) // 2])
        cases["truncated"] = tmp_path / "truncated.ckpt"
        return cases

    return make


DOCTORED = [f"{part} {target}" for part in ("dataset", "model") for target in ("Path.touch", "numpy.save", "torch.load")]
DOCTORED += ["pickle payload", "truncated"]


def assert_refused(run: Callable[[], Any], tmp_path: Path, written: list[Path]) -> str:
    with pytest.raises(ConfigError) as err:
        run()
    message = str(err.value)
    assert "\n" not in message and message.startswith("ckpt_path="), message
    assert not (tmp_path / "marker").exists(), "the checkpoint ran code"
    assert [p for p in written if p.exists()] == [], "something was written"
    return message


@pytest.mark.parametrize("case", DOCTORED)
def test_genlab_sample_refuses_doctored_cyclegan_checkpoints(checkpoints, compose_cfg, tmp_path, case):
    path = checkpoints("cyclegan")[case]
    cfg = compose_cfg(f"ckpt_path={path}", "num_samples=2", f"out={tmp_path / 'out'}", config_name="sample")
    assert_refused(lambda: sample(cfg), tmp_path, [tmp_path / "out"])


@pytest.mark.parametrize("case", DOCTORED)
def test_genlab_eval_refuses_doctored_checkpoints(checkpoints, compose_cfg, tmp_path, case):
    path = checkpoints("gan")[case]
    cfg = compose_cfg(f"ckpt_path={path}", "metrics.num_samples=4", f"paths.output_dir={tmp_path / 'eval'}", config_name="eval")
    assert_refused(lambda: evaluate(cfg), tmp_path, [tmp_path / "eval" / "metrics.json"])


@pytest.mark.parametrize("case", DOCTORED)
def test_resuming_refuses_doctored_checkpoints(checkpoints, compose_cfg, tmp_path, case):
    path = checkpoints("gan")[case]
    cfg = compose_cfg(f"ckpt_path={path}", "debug=limit", "logger=[]", f"paths.output_dir={tmp_path / 'run'}")
    assert_refused(lambda: train(cfg), tmp_path, [tmp_path / "run"])


def test_a_checkpoint_of_another_family_is_refused_in_one_sentence(checkpoints, compose_cfg, tmp_path):
    gan = checkpoints("gan")["honest"]
    resume = compose_cfg("model=vae", f"ckpt_path={gan}", "debug=limit", "logger=[]", f"paths.output_dir={tmp_path / 'run'}")
    message = assert_refused(lambda: train(resume), tmp_path, [tmp_path / "run"])
    assert "holds a genlab.models.gan.GAN model, but this run builds genlab.models.vae.VAE" in message
    # Same family, other architecture: the weights do not fit.
    wider = compose_cfg("model.generator.width=16", f"ckpt_path={gan}", "debug=limit", "logger=[]", f"paths.output_dir={tmp_path / 'run'}")
    message = assert_refused(lambda: train(wider), tmp_path, [tmp_path / "run"])
    assert "its weights do not fit this model" in message and "generator" in message
    # A translation option on a GAN checkpoint.
    cfg = compose_cfg(f"ckpt_path={gan}", "direction=AtoB", f"out={tmp_path / 'out'}", config_name="sample")
    with pytest.raises(ConfigError, match=r"^direction: not used by GAN models"):
        sample(cfg)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("sample", ["num_samples=2", "out=out"]),
        ("eval", ["metrics.num_samples=4"]),
        ("train", ["debug=limit", "hydra.run.dir=run"]),
    ],
)
def test_each_cli_answers_a_doctored_checkpoint_with_one_line_and_exit_2(checkpoints, cli, tmp_path, script, args):
    path = checkpoints("cyclegan" if script == "sample" else "gan")["dataset Path.touch"]
    result = cli(script, f"ckpt_path={path}", *args)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"genlab: error: ckpt_path={path}: dataset._target_='pathlib.Path.touch' is not allowed"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "marker").exists()
    assert not (tmp_path / "out").exists() and not (tmp_path / "run" / "checkpoints").exists()
