"""Outputs written to temporary names first, and renamed only when a run succeeds.

A run writes several files at once; none of them may appear (and no earlier
output may be moved) until all are complete. ``StagedFile`` is a temporary file
beside its target (named ``.<name>.*.tmp``, never matching an output pattern)
that is fsynced and renamed by ``commit`` or removed by ``discard``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class StagedFile:
    """A temporary file that becomes ``target`` on ``commit``."""

    def __init__(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        # mkstemp makes the file private (0600); outputs get the usual permissions.
        self.target = target
        self.temp = Path(name)
        self.temp.chmod(0o666 & ~_UMASK)
        self.done = False

    def commit(self) -> Path:
        """fsync the temporary file and rename it to the target (replacing nothing else)."""
        fsync_path(self.temp)
        self.temp.replace(self.target)
        fsync_path(self.target.parent)
        self.done = True
        return self.target

    def discard(self) -> None:
        """Remove the temporary file (safe to call twice, or after ``commit``)."""
        if not self.done:
            self.temp.unlink(missing_ok=True)
            self.done = True


def fsync_path(path: Path) -> None:
    """Flush a file or directory to disk (directories where the platform allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
