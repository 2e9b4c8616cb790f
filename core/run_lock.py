"""One run at a time per database file, across processes and threads.

A run (a sync, an import, a demo build) holds the lock from before it reads its source's state
until its write is recorded, so two syncs of the same books never interleave: the second waits
for the first (saying whom it waits for), then reads the books and the refresh token the first
left. The lock is an OS file lock (`filelock`), released by the system if its holder is killed;
who holds it is written beside it so a waiting run can say so.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from core.errors import DatabaseError
from core.settings import settings

RUN_WAIT_SECONDS = 120.0


def _holder_file(db: Path) -> Path:
    return Path(f"{db}.run.json")


def holder(db: Path) -> str:
    """Who holds `db`'s run lock, in words ('PID 4242, python -m etl sync quickbooks, since 10:02:11')."""
    try:
        record = json.loads(_holder_file(db).read_text())
    except (OSError, ValueError):
        return "another run"
    return f"PID {record['pid']}, {record['command']}, since {record['started_at'][11:19]}"


@contextmanager
def one_run_at_a_time(db: Path, tell: Callable[[str], None], wait_seconds: float = RUN_WAIT_SECONDS) -> Iterator[None]:
    """Hold `db`'s run lock for the block; wait up to `wait_seconds` for another run to finish."""
    db.parent.mkdir(parents=True, exist_ok=True)
    wait_seconds = settings().lock_wait(wait_seconds)
    lock = FileLock(f"{db}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        busy = holder(db)
        tell(f"Waiting for another run on this database to finish ({busy})")
        try:
            lock.acquire(timeout=wait_seconds)
        except Timeout:
            raise DatabaseError(f"another run is using {db} ({busy}); this one waited {wait_seconds:.0f} s and "
                                "wrote nothing. Try again when it has finished.") from None
    try:
        command = " ".join(["python -m etl", *sys.argv[1:]]) if sys.argv[0].endswith("__main__.py") else " ".join(sys.argv)
        try:
            _holder_file(db).write_text(json.dumps({"pid": os.getpid(), "command": command,
                                                    "started_at": settings().now().isoformat()}))
        except OSError:
            pass  # only to tell a waiting run who it waits for; a full disk is reported by the write
        yield
    finally:
        _holder_file(db).unlink(missing_ok=True)
        lock.release()
