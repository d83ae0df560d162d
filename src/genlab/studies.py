"""Optuna studies that several sweep workers share: storage URLs, heartbeats, the trial budget.

Used by genlab's Hydra sweeper (`hydra_plugins.genlab_optuna_sweeper`), by the pruning callback
inside each job (`genlab.pruning`) and by `genlab-sweep-report`.
"""

from __future__ import annotations

import inspect
import os
import random
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat  # the interface fail_stale_trials() works on
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from genlab.errors import ConfigError

# Optuna 4.9 renamed RetryFailedTrialCallback (deprecated, removed in 6.0); 4.0-4.8 have only the old name.
RetryStale = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback

JOURNAL = "journal://"
RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")
#: Study system attribute holding the current campaign: {"start": trials before it, "target": trials after it}.
CAMPAIGN = "genlab:campaign"
#: Trial system attribute: the last time (time.time()) its worker was alive, for journal storage.
HEARTBEAT = "genlab:heartbeat"
#: Trial system attribute: "host:pid" of the worker running it with a heartbeat. RUNNING trials
#: without it (heartbeat off, or left by another client such as the old hydra-optuna-sweeper) can
#: never be found stale, so workers neither wait for them nor take them for a live campaign.
WORKER = "genlab:worker"
#: Trial user attribute set by the job when the pruner stopped it: the step (evaluation index).
PRUNED_AT = "pruned_at_step"


#: The callbacks key the sweeper fills in each job's overrides (`++callbacks.optuna_trial={...}`).
TRIAL_KEY = "callbacks.optuna_trial"
TRIAL_OVERRIDE = f"++{TRIAL_KEY}"
TRIAL_FILE = "trial.json"


def quote(value: Any) -> str:
    """A value for Hydra's override grammar: single-quoted, so URLs and paths keep their ':', '/', '@'."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def trial_override(storage: str, study_name: str, number: int) -> str:
    """The override that puts this callback into one job, bound to trial `number` of the study."""
    fields = {
        "_target_": "genlab.pruning.OptunaTrialCallback",
        "storage": quote(storage),
        "study_name": quote(study_name),
        "trial_number": str(number),
        # Resolved in the job: the metric it returns to the sweeper, and its own run dir.
        "monitor": quote("${optimized_metric}"),
        "dirpath": quote("${paths.output_dir}"),
    }
    return TRIAL_OVERRIDE + "={" + ",".join(f"{k}:{v}" for k, v in fields.items()) + "}"


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """Optuna's journal file storage with the heartbeat RDBStorage has: a worker that dies (SIGKILL,
    node lost) stops refreshing its trials' heartbeat, and `optuna.storages.fail_stale_trials` fails
    them after `grace_period` seconds. The heartbeat is a trial system attribute with the writer's
    wall clock, so the nodes sharing a journal need synchronised clocks (NTP)."""

    def __init__(self, backend: JournalFileBackend, heartbeat_interval: int | None, grace_period: int | None, callback: Callable | None) -> None:
        super().__init__(backend)
        self.heartbeat_interval, self.grace_period, self.stale_callback = heartbeat_interval, grace_period, callback

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        grace = self.grace_period or 2 * (self.heartbeat_interval or 0)
        now = time.time()
        # A retry inherits its failed trial's old heartbeat: it counts from its own start, too.
        return [
            t._trial_id
            for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
            if HEARTBEAT in t.system_attrs and now - max(t.system_attrs[HEARTBEAT], t.datetime_start.timestamp() if t.datetime_start else 0) > grace
        ]

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable | None:
        return self.stale_callback

    get_failed_trial_callback = get_heartbeat_stale_trial_callback  # its name before Optuna 4.9


def open_storage(url: str | None, heartbeat_interval: int | None = None, grace_period: int | None = None, max_retry: int | None = 0) -> BaseStorage:
    """`url` -> an Optuna storage: an RDB URL (`sqlite:///...`, `postgresql://...`, `mysql://...`),
    `journal:///abs/path.log` (Optuna's journal file, fit for a shared filesystem) or None (in memory).
    With `heartbeat_interval`, trials of a dead worker fail after `grace_period` seconds and are
    retried up to `max_retry` times (None: without limit, 0: never)."""
    if url is None:
        return optuna.storages.InMemoryStorage()
    url = str(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = RetryStale(max_retry=max_retry) if heartbeat_interval and max_retry != 0 else None
    if url.startswith(JOURNAL):
        path = url[len(JOURNAL) :]
        if not path.startswith("/"):
            raise ConfigError(f"hydra.sweeper.storage={url}: a journal storage needs an absolute path, journal:///abs/path.log")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The open(2)-based lock works on NFS and Lustre too, unlike the default symlink lock on some of them.
        backend = JournalFileBackend(path, lock_obj=optuna.storages.journal.JournalFileOpenLock(path))
        return HeartbeatJournalStorage(backend, heartbeat_interval, grace_period, callback)
    if url.split(":", 1)[0].split("+", 1)[0] not in RDB_SCHEMES:
        raise ConfigError(
            f"hydra.sweeper.storage={url}: expected an RDB URL (sqlite:///..., postgresql://..., mysql://...) or journal:///abs/path.log"
        )
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    # Optuna 4.9 renamed failed_trial_callback to heartbeat_stale_trial_callback.
    callback_arg = (
        "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in inspect.signature(RDBStorage).parameters else "failed_trial_callback"
    )
    kwargs: dict[str, Any] = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period, callback_arg: callback}
    # Several workers starting at once may race to create the schema: retry after a short, random wait.
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval, since Optuna 2.9
                return RDBStorage(url, **(kwargs if heartbeat_interval else {}))
        except Exception:
            if attempt == 4:
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def absolute_url(url: str | None) -> str | None:
    """`sqlite:///relative.db` -> `sqlite:////abs/relative.db`: jobs and genlab-sweep-report may run elsewhere."""
    if url and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(url[len("sqlite:///") :]).resolve())
    return url


def is_retry(trial: FrozenTrial) -> bool:
    """A trial RetryFailedTrialCallback enqueued in place of a failed one (it takes that one's place in the budget)."""
    return "failed_trial" in trial.system_attrs


def counted(trials: Iterable[FrozenTrial]) -> int:
    """Trials that use up the budget: all of them, a failed trial and its retries counting once."""
    return sum(1 for t in trials if not is_retry(t))


def join_campaign(study: optuna.Study, storage: BaseStorage, n_trials: int) -> int:
    """The number of budget trials the study should have when this worker stops.

    A campaign is one `n_trials` budget shared by every worker that runs while it lasts. A worker
    joins the current one while it has trials to run or running; otherwise it starts a new one with
    `n_trials` more trials (so re-running a finished sweep continues the study). Workers that start
    together compute the same campaign, since none of them has asked for a trial yet.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    trials = study.get_trials(deepcopy=False)
    active = any(t.state == TrialState.WAITING or is_live(t) for t in trials)
    campaign = storage.get_study_system_attrs(study_id).get(CAMPAIGN)
    if campaign and (active or counted(trials) < campaign["target"]):
        return int(campaign["target"])
    campaign = {"start": counted(trials), "target": counted(trials) + int(n_trials)}
    storage.set_study_system_attr(study_id, CAMPAIGN, campaign)
    return campaign["target"]


def trials_to_ask(study: optuna.Study, target: int, batch: int) -> int:
    """How many trials this worker may ask for now: waiting ones (retries, enqueued) first, then new
    ones while the campaign's budget lasts. Count and ask under `genlab.ask_lock.ask_lock`."""
    trials = study.get_trials(deepcopy=False)
    waiting = sum(1 for t in trials if t.state == TrialState.WAITING)
    return min(batch, max(waiting, target - counted(trials)))


def is_live(trial: FrozenTrial) -> bool:
    """RUNNING in a worker that records its heartbeat (so it either finishes or is failed as stale)."""
    return trial.state == TrialState.RUNNING and WORKER in trial.system_attrs


def others_running(study: optuna.Study, mine: set[int]) -> bool:
    return any(is_live(t) and t._trial_id not in mine for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


class Heartbeat:
    """Records the heartbeat of the trials this worker runs, every `interval` seconds, in a daemon thread."""

    def __init__(self, storage: BaseStorage | None, interval: int | None) -> None:
        self.storage, self.interval = storage, interval
        self.trial_ids: set[int] = set()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if isinstance(self.storage, BaseHeartbeat) and self.interval:
            self.thread = threading.Thread(target=self._run, name="genlab-heartbeat", daemon=True)
            self.thread.start()
        return self

    def claim(self, trial_ids: Iterable[int]) -> None:
        """Run these trials under this worker's heartbeat (recorded at once)."""
        if isinstance(self.storage, BaseHeartbeat) and self.interval:
            for trial_id in trial_ids:
                # Heartbeat first: a trial marked live always has one to go stale by.
                self.storage.record_heartbeat(trial_id)
                self.storage.set_trial_system_attr(trial_id, WORKER, f"{socket.gethostname()}:{os.getpid()}")
                self.trial_ids.add(trial_id)

    def beat(self) -> None:
        if isinstance(self.storage, BaseHeartbeat) and self.interval:
            for trial_id in list(self.trial_ids):
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception:  # a transient storage error must not kill the worker; the next beat retries
                    pass

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self.beat()

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
