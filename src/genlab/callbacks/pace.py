"""When epoch-end and clock-paced work falls due: 'about every N seconds' as batch counts all ranks agree on."""

from __future__ import annotations

import time

import pytorch_lightning as pl


def is_last_epoch(trainer: pl.Trainer) -> bool:
    """Whether the current epoch is the last one `max_epochs` allows (None or -1: no epoch limit,
    e.g. a run bounded by max_steps or max_time, which on_train_end callbacks handle)."""
    limit = trainer.max_epochs
    return limit is not None and limit >= 0 and trainer.current_epoch + 1 >= limit


def batches_done(trainer: pl.Trainer) -> int:
    """Training batches of the run so far, the current one included (a resumed run counts from its start)."""
    return trainer.fit_loop.epoch_loop.total_batch_idx + 1


class Pace:
    """Falls due about every `seconds` of training, at the same batch on every rank.

    A wall-clock test on every rank could disagree between ranks (and what falls due, a checkpoint or
    a grid, is collective), while asking rank 0 on every batch is a collective per step. Instead rank 0
    turns the time into a batch count from the pace measured since the last event and broadcasts it:
    one collective per event. The first plan comes after `CALIBRATION_BATCHES` batches and only
    measures; the first event falls about `seconds` after `start`.
    """

    #: Batches timed before the first event is planned.
    CALIBRATION_BATCHES = 20

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._next: int | None = None  # the run's batch count at which the next plan is made
        self._since: tuple[int, float] = (0, 0.0)  # (batch count, time) the pace is measured from
        self._calibrating = False

    def start(self, trainer: pl.Trainer) -> None:
        """Call at on_train_start: the clock starts, and a resumed run counts on from its batches."""
        done = trainer.fit_loop.epoch_loop.batch_progress.total.ready
        self._since, self._next, self._calibrating = (done, time.monotonic()), done + self.CALIBRATION_BATCHES, True

    def due(self, trainer: pl.Trainer) -> bool:
        """Call on every rank at the same points (batch or epoch ends): True where an event falls."""
        done = batches_done(trainer)
        if self._next is None or done < self._next:
            return False
        since, start = self._since
        now = time.monotonic()
        pace = (now - start) / max(done - since, 1)
        batches = int(trainer.strategy.broadcast(max(1, round(self.seconds / max(pace, 1e-9)))))
        if self._calibrating:  # the first event falls `seconds` after the start
            self._calibrating = False
            self._next = max(since + batches, done + 1)
            return False
        self._since, self._next = (done, now), done + batches
        return True
