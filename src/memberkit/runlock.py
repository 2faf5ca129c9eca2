"""One run at a time: an exclusive ``flock`` on a lock file, released on exit or crash.

The kernel drops a ``flock`` when the process dies, so a crashed run never
leaves a stale lock behind; the file itself may stay and is harmless.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from memberkit.errors import LockedError


@contextmanager
def exclusive_lock(path: Path, *, what: str) -> Iterator[None]:
    """Hold ``path`` locked for the block; raise ``LockedError`` if another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "another process"
            raise LockedError(
                f"{what} is already running (lock {path} held by pid {holder})",
                hint="wait for it to finish; the lock is released when that process exits",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
