"""The sweep: build the study, then ask -> launch -> tell in batches until the campaign's budget is used."""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from genlab import studies
from genlab.ask_lock import ask_lock
from genlab.errors import ConfigError
from genlab.pruners import PRUNER_ATTR, build_pruner, pruner_spec
from genlab.sweep_report import write_study_file

log = logging.getLogger(__name__)


def distribution(override: Override) -> BaseDistribution | str:
    """One `hydra.sweeper.params` entry -> an Optuna distribution, or the fixed value as override text."""
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value = override.value()
    if override.is_choice_sweep() or (isinstance(value, RangeSweep) and value.shuffle):
        # Choices stay in override syntax ('hinge', 0.5, null), so they go back into the override as they are.
        return CategoricalDistribution([str(x) for x in override.sweep_iterator(transformer=Transformer.encode)])
    if isinstance(value, RangeSweep):
        # range(start, stop, step) excludes stop, like Python's: the last value is the distribution's high.
        values = list(override.sweep_iterator())
        if not values:
            raise ConfigError(f"hydra.sweeper.params.{override.get_key_element()}: {override.input_line} is an empty range")
        step = value.step or 1
        if all(isinstance(v, int) for v in values) and isinstance(step, int):
            return IntDistribution(int(values[0]), int(values[-1]), step=int(step))
        return FloatDistribution(float(values[0]), float(values[-1]), step=float(step))
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log_scale)
        return FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise ConfigError(
        f"hydra.sweeper.params.{override.get_key_element()}: {override.input_line} is not supported; use choice, range, interval or tag(log, interval)"
    )


def search_space(arguments: list[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """(distributions by key, fixed overrides) from `key=choice(...)`-style override strings."""
    space: dict[str, BaseDistribution] = {}
    fixed: list[str] = []
    for override in OverridesParser.create().parse_overrides(arguments):
        result = distribution(override) if not override.is_delete() else None
        if isinstance(result, BaseDistribution):
            space[override.get_key_element()] = result
        else:
            fixed.append(override.input_line or f"{override.get_key_element()}={result}")
    return space, fixed


def grid(space: dict[str, BaseDistribution]) -> dict[str, list[Any]]:
    """GridSampler's search space: every value of each (discrete) distribution."""
    out: dict[str, list[Any]] = {}
    for key, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            out[key] = list(dist.choices)
        elif isinstance(dist, (IntDistribution, FloatDistribution)) and dist.step is not None:
            n = int(round((dist.high - dist.low) / dist.step)) + 1
            out[key] = [dist.low + i * dist.step for i in range(n)]
        else:
            raise ConfigError(f"hydra.sweeper.params.{key}: the grid sampler needs choice(...) or range(...), not a continuous interval")
    return out


class OptunaSweep:
    def __init__(
        self,
        sampler: Any,
        direction: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        params: DictConfig | None,
        pruner: Any,
        heartbeat_interval: int | None,
        grace_period: int | None,
        max_retry: int | None,
        report: bool,
    ) -> None:
        self.sampler_cfg, self.storage_url, self.study_name = sampler, studies.absolute_url(storage), study_name
        self.direction = str(direction[0] if OmegaConf.is_list(direction) or isinstance(direction, (list, tuple)) else direction).lower()
        self.direction = self.direction.rsplit(".", 1)[-1]  # an old config's Direction.minimize
        if self.direction not in ("minimize", "maximize"):
            raise ConfigError(f"hydra.sweeper.direction={direction}: expected minimize or maximize")
        if n_trials < 1 or n_jobs < 1 or not 0.0 <= max_failure_rate <= 1.0:
            raise ConfigError(f"hydra.sweeper: n_trials={n_trials} and n_jobs={n_jobs} must be >= 1, max_failure_rate={max_failure_rate} in [0, 1]")
        self.n_trials, self.n_jobs, self.max_failure_rate = n_trials, n_jobs, max_failure_rate
        self.params = OmegaConf.to_container(params) if params is not None else {}
        self.pruner_cfg = pruner
        self.heartbeat_interval, self.grace_period, self.max_retry, self.report = heartbeat_interval, grace_period, max_retry, report
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context, task_function=task_function)

    def create_study(self, space: dict[str, BaseDistribution]) -> tuple[optuna.Study, Any]:
        sampler = instantiate(self.sampler_cfg)
        if callable(sampler) and not isinstance(sampler, optuna.samplers.BaseSampler):  # grid: a partial awaiting its space
            sampler = sampler(grid(space))
        pruner = build_pruner(self.pruner_cfg)  # a bad spec fails before the study is created
        self.storage = studies.open_storage(self.storage_url, self.heartbeat_interval, self.grace_period, self.max_retry)
        study = optuna.create_study(
            storage=self.storage,
            sampler=sampler,
            pruner=pruner,
            study_name=self.study_name,
            direction=self.direction,
            load_if_exists=True,
        )
        study_id = self.storage.get_study_id_from_name(study.study_name)
        self.storage.set_study_system_attr(study_id, PRUNER_ATTR, pruner_spec(self.pruner_cfg))
        metric = OmegaConf.select(self.config, "optimized_metric", default=None)
        if metric and study.metric_names is None:
            study.set_metric_names([str(metric)])
        return study, sampler

    def sweep(self, arguments: list[str]) -> None:
        space, fixed = search_space([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        study, sampler = self.create_study(space)
        if isinstance(sampler, optuna.samplers.GridSampler):
            self.n_trials = min(self.n_trials, math.prod(len(v) for v in grid(space).values()))
        log.info(
            f"Study {study.study_name} in {self.storage_url or 'memory'}: {type(sampler).__name__}, {self.direction}, pruner {type(study.pruner).__name__}"
        )
        write_study_file(self.config.hydra.sweep.dir, self.storage_url, study.study_name)
        # Job numbers (the default job dir `<sweep dir>/<job num>`) go on from the study's trials, so
        # a continued study never starts a job in an earlier one's dir (genlab-train refuses that).
        self.job_idx = max(self.job_idx, len(study.get_trials(deepcopy=False)))
        # fail_stale_trials is marked experimental since Optuna 2.9; it is what Study.optimize calls.
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
        target = studies.join_campaign(study, self.storage, self.n_trials)
        with studies.Heartbeat(self.storage, self.heartbeat_interval) as heartbeat:
            while True:
                with ask_lock(self.storage_url, self.storage, study.study_name):  # count and ask as one step
                    optuna.storages.fail_stale_trials(study)  # and retry them (genlab.studies.RetryStale)
                    n = studies.trials_to_ask(study, target, self.n_jobs)
                    trials = [self.ask(study, space, heartbeat) for _ in range(n)]
                if not trials:
                    # Wait for the other workers' trials: if one of them dies, its trial is retried here.
                    if not studies.others_running(study, heartbeat.trial_ids) or not self.heartbeat_interval:
                        break
                    heartbeat.stop.wait(self.heartbeat_interval)
                    continue
                self.run_batch(study, trials, fixed, heartbeat)
        self.finish(study)

    def ask(self, study: optuna.Study, space: dict[str, BaseDistribution], heartbeat: studies.Heartbeat) -> optuna.Trial:
        """study.ask(), with the trial under this worker's heartbeat before it turns RUNNING: a worker
        killed right after asking still leaves a trial that goes stale (and is retried). ask() runs
        the lowest-numbered waiting trial, so there is always one, beaten first (a new one if needed)."""
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if not waiting:
            # Not enqueue_trial({}): its (empty) fixed_params would tell the grid sampler the trial is set by hand.
            study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))
            waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        heartbeat.claim([waiting[0]._trial_id])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with Study.optimize": we beat ourselves
            trial = study.ask(space)
        heartbeat.claim([trial._trial_id])  # the same trial, unless another client popped it meanwhile
        return trial

    def run_batch(self, study: optuna.Study, trials: list[optuna.Trial], fixed: list[str], heartbeat: studies.Heartbeat) -> None:
        # Jobs reach their trial through the storage (pruning); an in-memory study stays in this process.
        address = (lambda t: [studies.trial_override(self.storage_url, study.study_name, t.number)]) if self.storage_url else (lambda t: [])
        overrides = [(*(f"{k}={v}" for k, v in t.params.items()), *fixed, *address(t)) for t in trials]
        try:
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
        except BaseException:
            for trial in trials:  # the worker stops (Ctrl-C, SystemExit of a ConfigError): no trial left RUNNING
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        finally:
            heartbeat.trial_ids.difference_update(t._trial_id for t in trials)
        self.job_idx += len(returns)
        crashed = []
        for trial, ret in zip(trials, returns):
            if ret.status == JobStatus.FAILED:
                crashed.append(ret)
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                continue
            self.tell(study, trial, ret.return_value)
        if crashed and len(crashed) / len(returns) > self.max_failure_rate:
            _ = crashed[0].return_value  # re-raises the job's exception (Hydra's JobReturn)

    def tell(self, study: optuna.Study, trial: optuna.Trial, value: Any) -> None:
        try:
            self._tell(study, trial, value)
        except RuntimeError as err:
            # GridSampler stops the study once the grid is used up, which Optuna allows only inside optimize().
            if "Study.stop" not in str(err):
                raise

    def _tell(self, study: optuna.Study, trial: optuna.Trial, value: Any) -> None:
        frozen = self.storage.get_trial(trial._trial_id)
        if frozen.state.is_finished():  # failed meanwhile as stale (the worker stalled past the grace period)
            return
        if studies.PRUNED_AT in frozen.user_attrs:
            study.tell(trial, state=TrialState.PRUNED)  # Optuna keeps the last reported value
            return
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if math.isnan(number):
            metric = OmegaConf.select(self.config, "optimized_metric", default=None)
            trial.set_user_attr("error", f"the job returned {value!r}, not a value of {metric}")
            log.warning(f"Trial {trial.number} failed: the job returned no {metric} ({value!r})")
            study.tell(trial, state=TrialState.FAIL)
            return
        study.tell(trial, number)

    def finish(self, study: optuna.Study) -> None:
        """One line on the best trial (or on why there is none), and the report."""
        trials = study.get_trials(deepcopy=False)
        states = {s.name: sum(t.state == s for t in trials) for s in TrialState if any(t.state == s for t in trials)}
        counts = ", ".join(f"{n} {s.lower()}" for s, n in states.items())
        finite = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
        metric = (study.metric_names or ["value"])[0]
        if finite:
            best = study.best_trial
            line = f"best trial {best.number}: {metric}={best.value:.6g} {best.params}"
        else:
            fast_dev_run = OmegaConf.select(self.config, "trainer.fast_dev_run", default=False)
            line = f"no trial returned a finite {metric}" + (" (trainer.fast_dev_run computes no sample metrics)" if fast_dev_run else "")
        print(f"genlab: study {study.study_name}: {len(trials)} trials ({counts}); {line}")
        if self.report:
            from genlab.sweep_report import write_report

            try:
                write_report(study, f"{self.config.hydra.sweep.dir}/report")
            except Exception as err:  # a plot must never fail the sweep that ran
                log.warning(f"genlab: no sweep report: {type(err).__name__}: {err}")
