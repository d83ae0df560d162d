"""Decode once: disk-backed datasets are decoded and resized once into uint8 N x H x W x C arrays
(`<split>.npy` + `<split>_labels.npy`) under `<cache_dir>/prepared/<name>-<hash>/`, then memory-mapped.

The hash covers the file list (relative paths, sizes, mtimes) and the preprocessing, so a changed
file or setting builds a new entry. An entry is written into a temporary folder and renamed into
place when complete: a prepare that is killed leaves only a temporary folder, never a used entry.
Every DDP rank (and every later run) maps the same files; the page cache holds them once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from genlab.errors import ConfigError

log = logging.getLogger(__name__)

#: Bump when the layout or the decoding changes: old entries are then simply not found.
FORMAT_VERSION = 1


class BadImage(Exception):
    """An item that cannot be decoded; `skip_bad_files` skips it, otherwise it becomes a ConfigError."""


def default_cache_dir() -> Path:
    """The cache dir genlab-train uses when `paths.cache_dir` is not passed (the same default)."""
    return Path(os.environ.get("GENLAB_CACHE_DIR", Path(os.environ.get("HOME", ".")) / ".cache" / "genlab")).expanduser()


def fingerprint(root: Path, files: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(path relative to `root`, size, mtime in ns) per file: what the cache key knows of the files."""
    out = []
    for path in files:
        stat = path.stat()
        out.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return out


@dataclass
class SplitPlan:
    """One split before decoding: `decode(i)` returns item i as uint8 H x W x C (raises BadImage)."""

    decode: Callable[[int], np.ndarray]
    labels: Sequence[int]
    names: Sequence[str] = field(default_factory=list)  # for messages: item i's file

    def __len__(self) -> int:
        return len(self.labels)


def entry_dir(cache_dir: str | Path | None, name: str, key: dict[str, Any]) -> Path:
    """Where the entry for `key` lives: `<cache_dir>/prepared/<name>-<hash of key>`."""
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    digest = hashlib.sha1(json.dumps({"version": FORMAT_VERSION, **key}, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return root / "prepared" / f"{name}-{digest}"


def is_complete(directory: Path) -> bool:
    """An entry is used only if its meta.json exists: it is the last file written before the rename."""
    return (directory / "meta.json").is_file()


def build(directory: Path, splits: dict[str, SplitPlan], shape: tuple[int, int, int], skip_bad_files: bool = False) -> dict[str, Any]:
    """Decode every split into `directory` (atomically); returns the entry's meta (counts, skipped files)."""
    tmp = directory.with_name(f".{directory.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir(parents=True)
    meta: dict[str, Any] = {"shape": list(shape), "splits": {}, "skipped": []}
    try:
        for name, plan in splits.items():
            kept = _decode_split(tmp / f"{name}.npy", plan, shape, name, skip_bad_files, meta["skipped"])
            np.save(tmp / f"{name}_labels.npy", np.asarray(plan.labels, dtype=np.int64)[kept])
            meta["splits"][name] = len(kept)
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            tmp.rename(directory)
        except OSError:  # another process (a DDP rank, a parallel job) finished the same entry first
            if not is_complete(directory):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if meta["skipped"]:
        log.warning("dataset.skip_bad_files: skipped %d unreadable files (first: %s)", len(meta["skipped"]), meta["skipped"][0])
    return meta


def _decode_split(path: Path, plan: SplitPlan, shape: tuple[int, int, int], split: str, skip: bool, skipped: list[str]) -> np.ndarray:
    """Decode the items of `plan` into a .npy at `path`; returns the indices kept."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(plan), *shape))
    kept = []
    for i in tqdm(range(len(plan)), desc=f"genlab: preparing {split}", unit="img", mininterval=2.0, leave=False):
        try:
            image = plan.decode(i)
        except BadImage as err:
            if not skip:
                raise ConfigError(f"{err}; fix or remove it, or set dataset.skip_bad_files=true to skip unreadable files") from None
            skipped.append(str(err))
            continue
        out[len(kept)] = image
        kept.append(i)
    out.flush()
    del out
    if len(kept) < len(plan):  # skipped files left rows unused at the end: rewrite without them
        full = np.load(path, mmap_mode="r")
        np.save(path.with_suffix(".part.npy"), full[: len(kept)])
        del full
        path.with_suffix(".part.npy").replace(path)
    if not kept:
        raise ConfigError(f"dataset: every one of the {len(plan)} files of the {split} split is unreadable (first: {skipped[0]})")
    return np.asarray(kept, dtype=np.int64)


def load(directory: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The entry's splits as (memory-mapped uint8 N x H x W x C images, int64 labels).

    Copy-on-write maps ('c'): torch can wrap them without a read-only warning, and nothing a process
    writes into its map reaches the file or the other ranks.
    """
    meta = json.loads((directory / "meta.json").read_text())
    return {name: (np.load(directory / f"{name}.npy", mmap_mode="c"), np.load(directory / f"{name}_labels.npy")) for name in meta["splits"]}


def prepare(directory: Path, plan: Callable[[], dict[str, SplitPlan]], shape: tuple[int, int, int], skip_bad_files: bool = False) -> bool:
    """Build the entry at `directory` unless it is complete; True if it was built now.

    Processes preparing the same entry at once (the jobs of a parallel sweep) take turns on a lock
    file: one decodes, the others wait and then map its result. The kernel drops the lock of a
    process that dies, so a killed prepare never blocks the next one.
    """
    if is_complete(directory):
        return False
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.with_name(f".{directory.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_complete(directory):  # built by the process we waited for
            return False
        log.info("genlab: decoding the dataset once into %s", directory)
        build(directory, plan(), shape, skip_bad_files)
    return True
