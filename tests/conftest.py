"""Shared fixtures: composing the real config tree, running the console scripts, small datasets."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict, read_write

from genlab.configs import config_dir

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"

# Tests never touch the network or a real wandb account.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """paths.cache_dir for the whole session (metric extractors train once), in a tmp dir."""
    return tmp_path_factory.mktemp("genlab_cache")


@pytest.fixture
def eager_compile(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """torch.compile with the eager backend (dynamo traces as with the default one, but no code
    generation: slow on CPU). Returns the class names of the modules compiled, in order."""
    import torch

    compiled: list[str] = []
    real_compile = torch.compile

    def compile_eagerly(fn, **kwargs):
        compiled.append(type(fn.__self__).__name__)
        return real_compile(fn, backend="eager")

    monkeypatch.setattr(torch, "compile", compile_eagerly)
    return compiled


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small convolutions on a shared 2-core machine run far faster on one thread than on two contended ones."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def compose_cfg(tmp_path: Path, cache_dir: Path) -> Callable[..., DictConfig]:
    """compose_cfg("model=vae", ..., config_name="train") -> the composed config, run dir in tmp_path."""

    def _compose(*overrides: str, config_name: str = "train") -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
        with read_write(cfg), open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(tmp_path)
            cfg.paths.cache_dir = str(cache_dir)
        HydraConfig().set_config(cfg)
        with read_write(cfg), open_dict(cfg):
            del cfg["hydra"]  # a real run's task config has no `hydra` node either
        return cfg

    yield _compose
    GlobalHydra.instance().clear()


def run_script(module: str, *args: str, cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m genlab.<module> args...` (what the console script runs) and capture its output."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", f"genlab.{module}", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli(tmp_path: Path, cache_dir: Path) -> Callable[..., subprocess.CompletedProcess]:
    """cli("train", "model=vae", ...) runs a console script in a subprocess with cwd=tmp_path."""

    def _run(module: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        env = {"GENLAB_CACHE_DIR": str(cache_dir), **(kwargs.pop("env", None) or {})}
        return run_script(module, *args, cwd=kwargs.pop("cwd", tmp_path), env=env, **kwargs)

    return _run


def write_mnist_fixture(root: Path, n_train: int = 256, n_test: int = 128) -> Path:
    """Write a small MNIST-format dataset (IDX, gzipped) made of upscaled scikit-learn digits."""
    import torch
    from sklearn.datasets import load_digits

    from genlab.data.base import resize_uint8
    from genlab.data.mnist import write_idx

    digits = load_digits()
    images = torch.from_numpy(np.round(digits.images * 255 / 16).astype(np.uint8))[:, None]
    images = resize_uint8(images, 20)
    images = torch.nn.functional.pad(images, (4, 4, 4, 4))[:, 0].numpy()  # 28 x 28, digit centred like MNIST
    labels = digits.target.astype(np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    write_idx(root / "train-images-idx3-ubyte.gz", images[:n_train])
    write_idx(root / "train-labels-idx1-ubyte.gz", labels[:n_train])
    write_idx(root / "t10k-images-idx3-ubyte.gz", images[n_train : n_train + n_test])
    write_idx(root / "t10k-labels-idx1-ubyte.gz", labels[n_train : n_train + n_test])
    return root


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MNIST-format folder (train + t10k IDX files) written by the test session."""
    return write_mnist_fixture(tmp_path_factory.mktemp("mnist"))


@pytest.fixture(scope="session")
def shared_mnist() -> Path:
    """../shared/data/mnist (the real t10k files); tests that need it skip where it is absent."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/data/mnist is not available")
    return SHARED_MNIST


def write_unpaired_fixture(root: Path, n_train: int = 6, n_test: int = 4, size: int = 40) -> Path:
    """Write a tiny CycleGAN dataset in the official layout: root/{trainA,trainB,testA,testB}/.

    A holds striped images, B noisy ones, in mixed formats (PNG and JPEG) and sizes, like real folders.
    """
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for domain in "AB":
            folder = root / f"{split}{domain}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = size + 4 * (i % 2), size + 8 * (i % 3)
                if domain == "A":
                    rows = (np.arange(h)[:, None, None] // 4 % 2) * 200 + rng.integers(0, 40, (1, 1, 3))
                    pixels = np.broadcast_to(rows, (h, w, 3))
                else:
                    pixels = rng.integers(0, 256, (h, w, 3))
                ext = "png" if i % 2 == 0 else "jpg"
                Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(folder / f"{i:03d}.{ext}")
    return root


@pytest.fixture(scope="session")
def unpaired_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny unpaired dataset (trainA/ trainB/ testA/ testB/) written by the test session."""
    return write_unpaired_fixture(tmp_path_factory.mktemp("unpaired"))
