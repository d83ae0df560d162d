"""Two "hosts" on one machine: network namespaces joined by a veth pair, with addresses that exist only
inside them (traffic stays between the two namespaces and their loopbacks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field


def ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@dataclass
class Host:
    netns: str
    ifname: str
    address: str

    def command(self, *command: str) -> list[str]:
        """`command` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *command]


@dataclass
class TwoHosts:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def __post_init__(self) -> None:
        subnet = int(self.tag, 16) % 250 + 1  # 10.213.<subnet>.0/24, chosen per run
        self.hosts = [Host(f"genlab-{self.tag}-{i}", f"gl{self.tag}{i}", f"10.213.{subnet}.{i + 1}") for i in (0, 1)]

    def create(self) -> None:
        a, b = self.hosts
        steps = [
            ("netns", "add", a.netns),
            ("netns", "add", b.netns),
            ("link", "add", a.ifname, "type", "veth", "peer", "name", b.ifname),
            ("link", "set", a.ifname, "netns", a.netns),
            ("link", "set", b.ifname, "netns", b.netns),
        ]
        for host in self.hosts:
            steps += [
                ("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", host.ifname),
                ("-n", host.netns, "link", "set", host.ifname, "up"),
                ("-n", host.netns, "link", "set", "lo", "up"),
            ]
        for step in steps:
            result = ip(*step)
            if result.returncode != 0:
                self.remove()
                raise OSError(f"ip {' '.join(step)}: {result.stderr.strip()}")

    def partition(self) -> None:
        """Cut the wire: packets are dropped, no connection is closed (as when a host loses power)."""
        ip("-n", self.hosts[1].netns, "link", "set", self.hosts[1].ifname, "down")

    def remove(self) -> None:
        for host in self.hosts:  # deleting a namespace deletes its end of the veth pair, and so the pair
            ip("netns", "delete", host.netns)

    def exists(self) -> bool:
        names = ip("netns", "list").stdout
        return any(host.netns in names for host in self.hosts)


def cannot() -> str | None:
    """Why namespaces cannot be made here (None: they can)."""
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = TwoHosts()
    try:
        probe.create()
    except OSError as err:
        return f"cannot create network namespaces here: {err}"
    finally:
        probe.remove()
    return None
