"""A one-node Slurm on this machine for the cluster tests: munged, slurmctld and slurmd with their key,
config, state and spool in one folder (Debian's slurm-wlm and munge; run as root)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CONFIG = """\
ClusterName=genlab
SlurmctldHost={ctld}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool-%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd-%n.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd-%n.log
# No cgroups in these sandboxes: track job processes through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
# Preemption, requeue and time limits act within seconds: SIGTERM, then SIGKILL after KillWait.
KillWait=5
MinJobAge=600
InactiveLimit=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
{nodes}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def missing() -> str | None:
    """Why a local Slurm cannot start here (None: it can)."""
    absent = [name for name in (*DAEMONS, "sbatch", "scontrol", "squeue", "srun") if shutil.which(name) is None]
    if absent:
        return f"Slurm/munge not installed ({', '.join(absent)} missing; Debian: apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "a local Slurm runs its daemons as root"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalSlurm:
    """Start with `start()`, stop with `stop()`; `env` points Slurm's client commands at it."""

    def __init__(self, root: Path, cpus: int | None = None) -> None:
        self.root = root
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        self.conf = root / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}
        self._procs: list[subprocess.Popen] = []

    def start(self, timeout: float = 60) -> None:
        munge = self.root / "munge"
        for sub in (munge, self.root / "state"):
            sub.mkdir(parents=True, exist_ok=True)
        munge.chmod(0o700)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // 2
        nodes = "\n".join(f"NodeName={name} NodeAddr={addr} CPUs={self.cpus} RealMemory={memory} State=UNKNOWN" for name, addr in self.nodes())
        self.conf.write_text(CONFIG.format(ctld=self.ctld_host(), root=self.root, nodes=nodes, ctld_port=free_port(), slurmd_port=free_port()))
        self._run(
            ["munged", "-F", "--force", f"--key-file={key}", f"--socket={munge}/munge.socket", f"--pid-file={munge}/munged.pid",
             f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"], "munged",
        )  # fmt: skip
        self._wait(lambda: (munge / "munge.socket").exists(), timeout, "munged")
        self._run(["slurmctld", "-D", "-i", "-f", str(self.conf)], "slurmctld")
        self._wait(lambda: self.ok("scontrol", "ping") and "UP" in self.out("scontrol", "ping"), timeout, "slurmctld")
        for name, _ in self.nodes():
            (self.root / f"spool-{name}").mkdir(exist_ok=True)
            self._run(self.slurmd(name), f"slurmd-{name}")
        up = ("idle", "mixed", "allocated")
        self._wait(lambda: (states := self.out("sinfo", "-h", "-N", "-o", "%T").split()) and all(s in up for s in states), timeout, "slurmd")

    def nodes(self) -> list[tuple[str, str]]:
        """(NodeName, NodeAddr) of each node: this machine, on loopback."""
        return [(self.host, "127.0.0.1")]

    def ctld_host(self) -> str:
        """slurm.conf's SlurmctldHost: this machine's name (where slurmctld runs), with the address nodes reach it at."""
        return self.host

    def slurmd(self, name: str) -> list[str]:
        """The command that runs node `name`'s slurmd in the foreground."""
        return ["slurmd", "-D", "-f", str(self.conf), "-N", name]

    def _run(self, command: list[str], name: str) -> None:
        log = (self.root / f"{name}.stdout").open("w")
        self._procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}, start_new_session=True))

    def _wait(self, ready, timeout: float, name: str) -> None:
        start = time.monotonic()
        while not ready():
            if time.monotonic() - start > timeout or any(p.poll() is not None for p in self._procs):
                logs = "\n".join(p.read_text()[-1500:] for p in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.stdout")))
                self.stop()
                raise RuntimeError(f"{name} did not come up within {timeout:.0f} s:\n{logs}")
            time.sleep(0.5)

    def out(self, *command: str) -> str:
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **self.env}, timeout=60)
        return result.stdout

    def ok(self, *command: str) -> bool:
        return subprocess.run(command, capture_output=True, env={**os.environ, **self.env}, timeout=60).returncode == 0

    def jobs(self) -> list[str]:
        """Ids of the jobs Slurm still knows as pending or running."""
        return self.out("squeue", "-h", "-o", "%i").split()

    def job_state(self, job_id: str) -> dict[str, str]:
        """scontrol's view of one job: JobState, Restarts, RunTime, ... (empty once Slurm forgot it)."""
        text = self.out("scontrol", "show", "job", job_id)
        return dict(re.findall(r"(\w+)=(\S*)", text))

    def cancel_all(self) -> None:
        for job in self.jobs():
            self.ok("scancel", job)

    def release(self, job_id: str, timeout: float = 60) -> None:
        """Once Slurm has requeued `job_id`, let it start again now: Slurm 22.05 holds a requeued job
        back for about two minutes (its BeginTime), which is all this test cluster would wait for."""
        start = time.monotonic()
        while (state := self.job_state(job_id)).get("JobState") != "PENDING" or state.get("Restarts", "0") == "0":
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"job {job_id} was not requeued within {timeout:.0f} s: {self.job_state(job_id)}")
            time.sleep(0.5)
        self.ok("scontrol", "update", f"JobId={job_id}", "StartTime=now")

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until Slurm has no job left (finished jobs leave the queue a moment after their tasks)."""
        start = time.monotonic()
        while self.jobs() and time.monotonic() - start < timeout:
            time.sleep(0.5)

    def stop(self) -> None:
        if self._procs and all(p.poll() is None for p in self._procs):
            self.cancel_all()
        # slurmd, slurmctld, then munged: the Slurm daemons authenticate through munged until they exit.
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
