"""Fixtures for metric tests: a digits classifier extractor trained once per session, in a tmp cache."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from genlab.data import DigitsDataModule
from genlab.metrics import ClassifierFeatures, FeatureExtractor, dataset_key

#: The default config: 80 steps on digits.
FAST_CLASSIFIER: dict = {}
DIGITS_CONFIG = {"_target_": "genlab.data.DigitsDataModule", "image_size": 16, "channels": 1, "binarize": "none", "seed": 0}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics must never download: any connection beyond this machine fails the test."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else ""
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"network access attempted: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="session")
def digits() -> DigitsDataModule:
    dm = DigitsDataModule(image_size=16)
    dm.setup()
    return dm


@pytest.fixture(scope="session")
def metrics_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics_cache")


@pytest.fixture(scope="session")
def digits_classifier(digits: DigitsDataModule, metrics_cache: Path) -> FeatureExtractor:
    """The classifier extractor for digits at 16 px, trained into `metrics_cache`."""
    return ClassifierFeatures(**FAST_CLASSIFIER).build(digits, dataset_key(DIGITS_CONFIG), metrics_cache)
