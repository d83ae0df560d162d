"""SampleMetricsCallback: when it computes, and that it refuses a bare extractor name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from genlab.callbacks import SampleMetricsCallback
from genlab.errors import ConfigError
from genlab.metrics import RandomCNNFeatures


def trainer(epoch: int, max_epochs: int = 10, logged: bool = True) -> SimpleNamespace:
    return SimpleNamespace(current_epoch=epoch, max_epochs=max_epochs, callback_metrics={"val/fid": 1.0} if logged else {})


def test_runs_every_n_epochs_at_the_last_epoch_and_whenever_val_fid_is_missing() -> None:
    callback = SampleMetricsCallback(RandomCNNFeatures(), every_n_epochs=3)
    assert [e for e in range(10) if callback.due(trainer(e))] == [2, 5, 8, 9]
    assert callback.due(trainer(0, logged=False))  # first epoch (or first after a resume): monitors need a value


def test_a_bare_extractor_name_is_rejected_with_the_group_override_to_use() -> None:
    with pytest.raises(ConfigError, match="metrics/features=inception"):
        SampleMetricsCallback("inception")
