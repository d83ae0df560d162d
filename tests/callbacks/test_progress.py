"""The progress bar redraws by the clock, not after every batch, and follows trainer.enable_progress_bar."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks.progress import ProgressBar

from genlab.callbacks.progress import TQDMBar, progress_bar
from genlab.train import instantiate_group
from tests.callbacks.tiny import TinyModel, tiny_trainer


def test_the_bar_skips_redraws_within_refresh_seconds_but_always_shows_the_epochs_end(tmp_path):
    class Watch(pl.Callback):
        def __init__(self) -> None:
            self.shown: list[int] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.shown.append(trainer.progress_bar_callback.train_progress_bar.n)

    watch = Watch()
    trainer = tiny_trainer(tmp_path, [TQDMBar(refresh_seconds=3600), watch], enable_progress_bar=True)
    trainer.fit(TinyModel())
    assert watch.shown == [1, 1, 1, 1, 1, 1, 1, 8]  # drawn once, then not again until the last batch


def test_the_default_callbacks_follow_trainer_enable_progress_bar(compose_cfg):
    def bars(*overrides: str) -> list[pl.Callback]:
        return [c for c in instantiate_group(compose_cfg(*overrides).callbacks) if isinstance(c, ProgressBar)]

    assert len(bars()) == 1 and bars()[0].refresh_seconds == 0.25
    assert bars("trainer.enable_progress_bar=false") == []
    assert progress_bar(enabled=False) is None
