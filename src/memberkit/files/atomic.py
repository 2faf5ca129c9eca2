"""Atomic file writes: write to a temporary name in the same folder, fsync, rename.

A reader (or a crash) never sees a half-written file: either the old file is
there, or the complete new one. The temporary file is a ``StagedFile``
(``.<name>.*.tmp``, never matching an output pattern, usual permissions).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from memberkit.files.staging import StagedFile


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target``, else it is removed."""
    staged = StagedFile(target)
    try:
        yield staged.temp
        staged.commit()
    finally:
        staged.discard()


@contextmanager
def atomic_open(
    target: Path, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO[str]]:
    """Open a temporary file for text writing; it becomes ``target`` when the block succeeds."""
    with atomic_path(target) as tmp, tmp.open(mode, encoding=encoding, newline=newline) as fh:
        yield fh
