"""Early stopping that counts only the checks at which the monitored metric was computed anew."""

from __future__ import annotations

import pytorch_lightning as pl

from genlab.callbacks.metrics import SampleMetricsCallback


class EarlyStopping(pl.callbacks.EarlyStopping):
    """Lightning's EarlyStopping (same arguments), except that a check whose monitored metric comes
    from SampleMetricsCallback and was not computed this epoch is skipped.

    Sample metrics (`val/fid`, ...) run every `metrics.every_n_epochs` epochs; in between,
    `trainer.callback_metrics` keeps their last values, and Lightning's EarlyStopping counts every
    such validation as one without improvement: `genlab-train callbacks=early_stopping` stopped the
    default digits GAN (val/fid every 50 epochs, patience 5) after six epochs, having computed one
    FID. Here `patience` counts evaluations of the metric. Metrics the model logs itself at every
    validation (`val/nll`) are checked as Lightning checks them.
    """

    def stale(self, trainer: pl.Trainer) -> bool:
        for callback in trainer.callbacks:
            if isinstance(callback, SampleMetricsCallback) and callback.computed_this_epoch(trainer, self.monitor) is False:
                return True
        return False

    def needs_validation(self, trainer: pl.Trainer) -> bool:
        # A sample metric's new values come with the validations SampleMetricsCallback asks for; other
        # metrics, logged at every validation, need each one where the check follows validation.
        return not self._check_on_train_epoch_end and not self.stale(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.stale(trainer):
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.stale(trainer):
            super().on_validation_end(trainer, pl_module)
