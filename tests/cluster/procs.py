"""Finding a test's processes by an environment marker, and waiting for them to be gone."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

MARK = "GENLAB_TEST_JOB"


def new_mark() -> dict[str, str]:
    """An environment entry that every process of one test run (and its children) carries."""
    return {MARK: uuid.uuid4().hex}


def marked(env: dict[str, str]) -> list[int]:
    """Live processes (not zombies) whose environment carries `env`'s marker."""
    needle = f"{MARK}={env[MARK]}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0") and (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def wait_gone(env: dict[str, str], timeout: float) -> tuple[list[int], float]:
    """Wait up to `timeout` s for every marked process to end: (those still alive, seconds waited)."""
    start = time.monotonic()
    while (left := marked(env)) and time.monotonic() - start < timeout:
        time.sleep(0.2)
    return left, time.monotonic() - start


def wait_for(paths: list[Path], timeout: float) -> bool:
    start = time.monotonic()
    while not all(p.exists() for p in paths):
        if time.monotonic() - start > timeout:
            return False
        time.sleep(0.2)
    return True


def kill_marked(env: dict[str, str]) -> None:
    """Clean up after a failed assertion, so one broken test does not leave processes behind."""
    for pid in marked(env):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
