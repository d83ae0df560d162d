"""One worker at a time counts a shared study's trials and asks for new ones, so that workers sharing
a study run exactly its budget (without it, two workers checking at the same instant could both
take the last slot, as with Optuna's MaxTrialsCallback).

The lock lives beside the study: an advisory lock of the database server (PostgreSQL, MySQL) or a
POSIX lock on a file next to the journal or SQLite file. All of them go with their holder: a worker
killed while holding one releases it (the OS closes its file or its database connection).
"""

from __future__ import annotations

import contextlib
import fcntl
import zlib
from collections.abc import Iterator
from typing import Any

from genlab.studies import JOURNAL


def lock_file(url: str) -> str | None:
    """The lock file beside a journal or SQLite study file, None for a server database."""
    if url.startswith(JOURNAL):
        return url[len(JOURNAL) :] + ".ask.lock"
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        return url[len("sqlite:///") :] + ".ask.lock"
    return None


@contextlib.contextmanager
def ask_lock(url: str | None, storage: Any, study_name: str) -> Iterator[None]:
    if url is None:  # an in-memory study has one worker
        yield
        return
    path = lock_file(url)
    if path is not None:
        with open(path, "a") as f:
            fcntl.lockf(f, fcntl.LOCK_EX)  # POSIX record lock: NFS (lockd) honours it, unlike flock on some mounts
            try:
                yield
            finally:
                fcntl.lockf(f, fcntl.LOCK_UN)
        return
    from sqlalchemy import text

    dialect = storage.engine.dialect.name
    key = zlib.crc32(f"genlab:{study_name}".encode())
    statements = {
        "postgresql": ("SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)"),
        "mysql": ("SELECT GET_LOCK(CONCAT('genlab', :key), -1)", "SELECT RELEASE_LOCK(CONCAT('genlab', :key))"),
    }
    if dialect not in statements:  # no advisory locks known for this server: ask without one
        yield
        return
    acquire, release = statements[dialect]
    with storage.engine.connect() as connection:
        connection.execute(text(acquire), {"key": key})
        try:
            yield
        finally:
            connection.execute(text(release), {"key": key})
