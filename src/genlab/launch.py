"""Rank supervision for Lightning's subprocess DDP launcher: a job that fails takes all of its ranks down.

When Lightning starts ranks > 0 itself (`trainer=ddp_cpu`, or `trainer=ddp` on one machine without
Slurm) it watches them with a thread that, when a child fails, SIGKILLs the other children *and the
launching process*. In a sweep the launching process is the sweep: it died (exit 137) and the next
job's rank 1, already started, was left waiting on a collective. And when rank 0 fails, Lightning
does not stop the children at all: they wait for it until the process-group timeout (30 minutes).

`supervised_ranks` replaces that watcher for one job (a single run or one sweep job):

- a child that fails takes its sibling ranks down at once; rank 0 then fails on its next collective
  (at once on gloo, which sees the closed sockets; within `trainer.strategy.timeout` on NCCL), so the
  job ends with an error and the sweep scores it inf and goes on;
- when rank 0 leaves the job with an error or is interrupted (SIGINT, SIGTERM), the children are
  killed; after success they get a bounded time to finish, and a child that failed fails the job;
- every child dies with its launching process, even one killed by SIGKILL (`die_with_launcher`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

from omegaconf import OmegaConf

from genlab.errors import ConfigError

log = logging.getLogger(__name__)

#: Set in the launching process while a job runs; its children inherit it and tie their life to it.
LAUNCHER_PID = "GENLAB_LAUNCHER_PID"
#: How often the supervisor looks at the children (Lightning's watcher: every 5 s).
POLL_S = 0.2
#: How long children may take to exit after rank 0 finished a job successfully.
FINISH_S = 60.0
#: How long children may take to exit by themselves after rank 0 failed (to learn whether one failed first).
#: A child that failed may close its sockets (rank 0's gloo error) seconds before its process ends: 3 s
#: were too short on a loaded machine (the job was blamed on rank 0's echo). Rank 0's own failures pay
#: it in full (their children wait in a collective until killed).
CHILD_EXIT_S = 15.0
_PR_SET_PDEATHSIG = 1


class RankFailure(RuntimeError):
    """A rank > 0 of this job exited with an error."""


def die_with_launcher() -> None:
    """In a rank started by `supervised_ranks`: ask the kernel to SIGKILL this process when the
    launching process dies, however it dies (a sweep killed with SIGKILL leaves no ranks behind)."""
    launcher = os.environ.get(LAUNCHER_PID)
    if not launcher or int(launcher) == os.getpid():
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the supervisor's kill on exit still applies
        return
    if os.getppid() != int(launcher):  # the launcher died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


class RankSupervisor(threading.Thread):
    """Watches one job's child ranks; the first one that fails takes the others down."""

    def __init__(self, children: list[subprocess.Popen]) -> None:
        super().__init__(daemon=True, name="genlab-rank-supervisor")
        self.children = children
        self.failed: tuple[int, int] | None = None  # (rank, exit code) of the first failure
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(POLL_S):
            for rank, child in enumerate(self.children, start=1):
                code = child.poll()
                if code:  # nonzero: an error or a signal
                    self.failed = (rank, code)
                    log.error(f"genlab: rank {rank} (pid {child.pid}) exited with code {code}; stopping this job's other ranks")
                    kill_all(self.children)
                    return
            if all(child.returncode == 0 for child in self.children):
                return

    def stop(self) -> None:
        self._done.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join()


def kill_all(children: list[subprocess.Popen]) -> None:
    """SIGKILL every child still running and reap it (SIGTERM does not stop a rank blocked in a collective)."""
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)


def wait_exit(children: list[subprocess.Popen], timeout: float) -> None:
    """Wait up to `timeout` s in all for the children to exit by themselves."""
    deadline = time.monotonic() + timeout
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))


def finish(children: list[subprocess.Popen], timeout: float = FINISH_S) -> None:
    """Wait up to `timeout` s in all for the children to exit by themselves, then kill whatever is left."""
    wait_exit(children, timeout)
    kill_all(children)


def first_failure(supervisors: list[RankSupervisor]) -> tuple[int, int] | None:
    """(rank, exit code) of the first child that failed by itself, not by our kill."""
    for supervisor in supervisors:
        if supervisor.failed:
            return supervisor.failed
    for supervisor in supervisors:
        for rank, child in enumerate(supervisor.children, start=1):
            if child.returncode and child.returncode != -signal.SIGKILL:
                return rank, child.returncode
    return None


@contextlib.contextmanager
def supervised_ranks() -> Iterator[None]:
    """Run one job (single run or sweep job) with genlab's rank supervision instead of Lightning's
    watcher; see the module docstring. No effect where Slurm or torchrun start the ranks."""
    from pytorch_lightning.strategies.launchers import subprocess_script
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    supervisors: list[RankSupervisor] = []

    def watch(children: list[subprocess.Popen]) -> None:
        supervisor = RankSupervisor(children)
        supervisors.append(supervisor)
        supervisor.start()

    saved_observer, saved_pid = subprocess_script._launch_process_observer, os.environ.get(LAUNCHER_PID)
    subprocess_script._launch_process_observer = watch
    os.environ[LAUNCHER_PID] = str(os.getpid())
    try:
        yield
    except Exception as err:
        # Rank 0's error may only echo a child's (gloo: "Connection closed by peer"): give the
        # children a moment to exit by themselves, and name the one that failed first.
        children = [c for s in supervisors for c in s.children]
        wait_exit(children, timeout=CHILD_EXIT_S)
        for supervisor in supervisors:  # the kill below is ours: no supervisor may record it as a child's failure
            supervisor.stop()
        kill_all(children)
        failed = first_failure(supervisors)
        if failed:  # rank 0's own message stays: it is the cause when every rank failed alike
            raise RankFailure(f"rank {failed[0]} exited with code {failed[1]}; rank 0: {type(err).__name__}: {err}") from err
        raise
    except BaseException as err:  # interrupted (KeyboardInterrupt, SystemExit from SIGTERM): stop at once
        for supervisor in supervisors:
            kill_all(supervisor.children)
        if isinstance(err, SIGTERMException) and not err.code:
            # Lightning's SIGTERM exit carries no code: the process (a whole sweep) would end with 0.
            raise SystemExit(128 + signal.SIGTERM) from err
        raise
    else:
        for supervisor in supervisors:
            finish(supervisor.children)
        failed = first_failure(supervisors)
        if failed:
            raise RankFailure(f"rank {failed[0]} exited with code {failed[1]}")
    finally:
        for supervisor in supervisors:
            supervisor.stop()
        subprocess_script._launch_process_observer = saved_observer
        if saved_pid is None:
            os.environ.pop(LAUNCHER_PID, None)
        else:
            os.environ[LAUNCHER_PID] = saved_pid


def check_slurm_step(world_size: int) -> None:
    """Fail before training when Lightning would take its ranks from a Slurm job whose tasks were never
    started: `genlab-train` in an `sbatch` script without `srun` sees the job's SLURM_NTASKS, and rank 0
    then waits for ranks that do not exist (until trainer.strategy.timeout)."""
    ntasks = os.environ.get("SLURM_NTASKS")
    interactive = os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive")  # Lightning's own opt-out
    if world_size > 1 and ntasks and int(ntasks) > 1 and "SLURM_STEP_ID" not in os.environ and not interactive:
        raise ConfigError(
            f"trainer: genlab-train runs in a Slurm job of {ntasks} tasks but not under srun (no SLURM_STEP_ID), so "
            "Lightning would wait for ranks that were never started; start one task per device with `srun` "
            "(--ntasks-per-node=trainer.devices) or submit with hydra/launcher=slurm"
        )


#: Lightning's hint, on every Trainer where Slurm is installed (a PossibleUserWarning from SLURMEnvironment.detect).
SRUN_HINT = "The `srun` command is available on your system but is not used"


def quiet_srun_hint() -> None:
    """Outside a Slurm allocation (no SLURM_JOB_ID), drop Lightning's "`srun` ... is available but not
    used": a local run on a machine with Slurm installed is not a Slurm job that forgot srun. Inside one
    (an sbatch script, salloc) the hint stays, and genlab-train stops a multi-task job without srun
    itself (`check_slurm_step`)."""
    if "SLURM_JOB_ID" not in os.environ:
        warnings.filterwarnings("ignore", message=re.escape(SRUN_HINT))


#: trainer.accelerator values that run on GPUs (what a Slurm job must request).
GPU_ACCELERATORS = ("gpu", "cuda")


def gpus_per_node(accelerator: str, devices: Any) -> int | None:
    """`hydra.launcher.gpus_per_node` for a trainer (`${genlab.gpus_per_node:...}` in conf/hydra/launcher/slurm.yaml):
    its devices on GPUs, none (null) on CPU, where asking for GPUs gets a job refused."""
    return int(devices) if str(accelerator) in GPU_ACCELERATORS else None


# Registered on import: genlab-train imports this module before Hydra composes the launcher's config.
if not OmegaConf.has_resolver("genlab.gpus_per_node"):
    OmegaConf.register_new_resolver("genlab.gpus_per_node", gpus_per_node)
