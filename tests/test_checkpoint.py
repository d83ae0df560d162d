"""Checkpoints are untrusted input: no arbitrary unpickling, no code outside the allow-list."""

from __future__ import annotations

import pytest
import torch

from genlab.checkpoint import check_target, load_model, read_checkpoint
from genlab.errors import ConfigError


def doctored_checkpoint(path, target: str) -> str:
    """A checkpoint in genlab's format whose model config names `target`."""
    torch.save({"genlab": {"model": {"_target_": target, "command": "touch pwned"}, "dataset": {}}, "state_dict": {}}, path)
    return str(path)


@pytest.mark.parametrize(
    "target",
    [
        "os.system",  # outside the allowed packages: refused before anything is imported
        "genlab.loggers.subprocess.run",  # inside by name, outside once resolved
        "torch.nn.functional.torch.hub.load",  # torch, but hub.load runs a repository's code
        "torch.hub.load",
        "genlab.loggers._git",  # private helpers are not building blocks
    ],
)
def test_a_checkpoint_config_cannot_name_code_outside_the_allow_list(tmp_path, target):
    ckpt = doctored_checkpoint(tmp_path / "evil.ckpt", target)
    with pytest.raises(ConfigError, match="not allowed in a checkpoint config"):
        load_model(ckpt)


def test_genlab_sample_refuses_a_doctored_checkpoint_without_running_it(cli, tmp_path):
    ckpt = doctored_checkpoint(tmp_path / "evil.ckpt", "os.system")
    result = cli("sample", f"ckpt_path={ckpt}", f"out={tmp_path / 'out'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "model._target_='os.system' is not allowed" in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_the_allow_list_is_configurable():
    with pytest.raises(ConfigError):
        check_target("collections.OrderedDict")
    check_target("collections.OrderedDict", allowed=("genlab", "collections"))
    check_target("torch.optim.Adam")  # what genlab's own configs use stays allowed


def test_checkpoints_load_without_unpickling_objects(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("unpickled!",))

    path = tmp_path / "pickle.ckpt"
    torch.save({"genlab": {}, "state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        read_checkpoint(path)
