"""A two-node Slurm on one machine: each node's slurmd runs in its own network namespace (its own
address on a bridge) and UTS namespace (its own host name, n0 / n1), as two hosts would; slurmctld and
munged run on this machine, reached at the bridge's address. Every name resolves through the
namespace's own /etc/hosts (/etc/netns/<namespace>/hosts mounted over it), so
Lightning's SLURMEnvironment finds rank 0's node (MASTER_ADDR=n0) and gloo binds to the node's
address without GLOO_SOCKET_IFNAME."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path

from tests.cluster.netns import ip
from tests.cluster.slurm import LocalSlurm

NETNS_ETC = Path("/etc/netns")


class TwoNodeSlurm(LocalSlurm):
    """`create_network()`, then `start()`; `stop()`, then `remove_network()`."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, cpus=1)  # one CPU per node: the two nodes share this machine's two
        self.tag = uuid.uuid4().hex[:6]
        subnet = int(self.tag, 16) % 250 + 1
        self.bridge = f"glb{self.tag}"
        self.ctld_addr = f"10.214.{subnet}.254"
        self.node_addrs = {f"n{i}": f"10.214.{subnet}.{i + 1}" for i in (0, 1)}

    def netns(self, name: str) -> str:
        return f"genlab-{self.tag}-{name}"

    def nodes(self) -> list[tuple[str, str]]:
        return list(self.node_addrs.items())

    def ctld_host(self) -> str:
        return f"{self.host}({self.ctld_addr})"

    def slurmd(self, name: str) -> list[str]:
        # nsenter, not `ip netns exec`, which remounts /sys without the cgroup filesystem slurmd needs; the
        # node's own /etc/hosts and host name in a mount and UTS namespace of its own. Each command execs
        # the next: the process started is slurmd itself.
        hosts = NETNS_ETC / self.netns(name) / "hosts"
        node = f"mount --bind {hosts} /etc/hosts && hostname {name} && exec slurmd -D -f {self.conf}"
        return ["nsenter", f"--net=/run/netns/{self.netns(name)}", "unshare", "--mount", "--uts", "sh", "-c", node]

    def create_network(self) -> None:
        hosts = "127.0.0.1 localhost\n" + "".join(f"{addr} {name}\n" for name, addr in self.nodes()) + f"{self.ctld_addr} {self.host}\n"
        steps = [
            ("link", "add", self.bridge, "type", "bridge"),
            ("addr", "add", f"{self.ctld_addr}/24", "dev", self.bridge),
            ("link", "set", self.bridge, "up"),
        ]
        for i, (name, addr) in enumerate(self.nodes()):
            inside, outside = f"gl{self.tag}n{i}", f"gl{self.tag}b{i}"
            steps += [
                ("netns", "add", self.netns(name)),
                ("link", "add", inside, "type", "veth", "peer", "name", outside),
                ("link", "set", inside, "netns", self.netns(name)),
                ("link", "set", outside, "master", self.bridge),
                ("link", "set", outside, "up"),
                ("-n", self.netns(name), "addr", "add", f"{addr}/24", "dev", inside),
                ("-n", self.netns(name), "link", "set", inside, "up"),
                ("-n", self.netns(name), "link", "set", "lo", "up"),
            ]
            (NETNS_ETC / self.netns(name)).mkdir(parents=True, exist_ok=True)
            (NETNS_ETC / self.netns(name) / "hosts").write_text(hosts)
        for step in steps:
            result = ip(*step)
            if result.returncode != 0:
                self.remove_network()
                raise OSError(f"ip {' '.join(step)}: {result.stderr.strip()}")

    def remove_network(self) -> None:
        for name, _ in self.nodes():  # deleting a namespace deletes its end of the veth pair, and so the pair
            ip("netns", "delete", self.netns(name))
            shutil.rmtree(NETNS_ETC / self.netns(name), ignore_errors=True)
        ip("link", "delete", self.bridge)
        with contextlib.suppress(OSError):  # /etc/netns itself, if this left it empty
            NETNS_ETC.rmdir()

    def exists(self) -> bool:
        return any(self.netns(name) in ip("netns", "list").stdout for name, _ in self.nodes()) or ip("link", "show", self.bridge).returncode == 0
