"""Collecting a sweep's Slurm jobs so that one job killed from outside does not stop the sweep.

A task killed hard (SIGKILL, the kernel's OOM killer, a node failure, `scancel`) writes no submitit
result file. Submitit's `job.results()` then raises `UncompletedJobError` (with accounting) and Hydra's
launcher lets it end the whole sweep; on a cluster without accounting (`sacct` answers "accounting
storage is disabled") it never learns that the job ended and waits forever. Here:

- a job is over when every task's result file exists, or when Slurm's controller no longer lists it
  (`squeue`, which needs no accounting) and its result files did not appear within `RESULT_GRACE_S`;
- a job whose rank 0 left a result returns it (as before); one that left none becomes a failed trial:
  `result.json` records the error, and the sweeper gets `inf`, as for a Python error in a job
  (`genlab.train.main`), so Optuna scores it and the sweep goes on.
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

log = logging.getLogger(__name__)

#: How often result files are looked for, and how often Slurm's controller is asked (seconds).
POLL_S = 1.0
SLURM_POLL_S = 5.0
#: After the controller stopped listing a job: how long its result files may take to appear (shared filesystems).
RESULT_GRACE_S = 10.0


def result_files(job: Any) -> list[Path]:
    """Submitit's result file of each task of `job` (rank 0 first)."""
    from submitit.core.utils import JobPaths

    return [JobPaths(job.paths.folder, job.job_id, task).result_pickle for task in range(job.num_tasks)]


def listed_jobs(job_ids: Sequence[str]) -> set[str] | None:
    """The ids among `job_ids` (array tasks as `123_4`) that Slurm still lists (pending, running,
    completing, requeued); None when the controller could not be asked (try again later)."""
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    try:
        result = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:  # "Invalid job id": the controller has forgotten every one of them
        return set() if "Invalid job id" in result.stderr else None
    return set(result.stdout.split())


def wait_for_jobs(jobs: Sequence[Any], clock: Callable[[], float] = time.monotonic) -> None:
    """Return once every job has either written all its result files or left Slurm's queue without them."""
    ended_at: dict[int, float] = {}  # job index -> when the controller was first seen not listing it
    todo = set(range(len(jobs)))
    asked = -math.inf
    while True:
        now = clock()
        todo = {i for i in todo if not all(p.exists() for p in result_files(jobs[i])) and now - ended_at.get(i, now) < RESULT_GRACE_S}
        if not todo:
            return
        if now - asked >= SLURM_POLL_S:
            asked = now
            listed = listed_jobs([jobs[i].job_id for i in todo])
            if listed is not None:
                for i in todo:
                    if jobs[i].job_id in listed:
                        ended_at.pop(i, None)  # requeued, or listed again
                    else:
                        ended_at.setdefault(i, now)
        time.sleep(POLL_S)


def slurm_outcome(job_id: str) -> str:
    """What the controller says about a finished job (`JobState=FAILED Reason=... ExitCode=0:9`), if it remembers it."""
    try:
        text = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "Slurm's controller did not answer"
    fields = dict(re.findall(r"(\w+)=(\S*)", text))
    keys = [key for key in ("JobState", "Reason", "ExitCode") if key in fields]
    return " ".join(f"{key}={fields[key]}" for key in keys) or "Slurm no longer remembers the job"


def task_verdicts(stderr: Path) -> list[str]:
    """srun's word on each task that ended badly (`task 0: Killed`, `task 1: Out Of Memory`), from the job's stderr."""
    try:
        text = stderr.read_text(errors="replace")
    except OSError:
        return []
    return list(dict.fromkeys(re.findall(r"^srun: error: \S+: (tasks? [\d,-]+: .+)$", text, flags=re.MULTILINE)))


def job_return(job: Any, killed: Callable[[Any, str], JobReturn]) -> JobReturn:
    """The rank-0 JobReturn of a finished job; `killed(job, error)` when its rank 0 left no result."""
    from submitit.core.utils import FailedJobError, pickle_load

    files = result_files(job)
    if all(p.exists() for p in files):
        return job.results()[0]  # as Hydra's launcher: an exception that escaped a task raises here
    outcomes = [pickle_load(p) for p in files if p.exists()]
    for outcome, trace in outcomes:
        if outcome == "error":
            raise FailedJobError(f"Job {job.job_id} failed during processing with trace:\n{trace}")
    if files[0].exists():
        return outcomes[0][1]
    verdicts = "; ".join(["srun: " + v for v in task_verdicts(job.paths.stderr)])
    error = (
        f"KilledJob: Slurm job {job.job_id} ended without a result ({'; '.join(filter(None, [slurm_outcome(job.job_id), verdicts]))}): a task was killed "
        f"from outside (out of memory, SIGKILL, node failure or scancel); its logs are in {job.paths.folder}"
    )
    log.error(f"genlab: {error}; scoring the trial inf")
    return killed(job, error)


def failed_trial(overrides: Sequence[str], job_dir: Path | None, metric: str | None, error: str) -> JobReturn:
    """What a job that failed with a Python error returns to the sweeper (inf), with its result.json."""
    from genlab.sweeps import write_result

    if job_dir is not None:
        write_result(job_dir, metric, math.inf, error)
    return JobReturn(overrides=list(overrides), working_dir=str(job_dir), status=JobStatus.COMPLETED, _return_value=math.inf)
