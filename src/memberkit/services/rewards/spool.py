"""The members a rewards update changed, spooled to files for the database mirror.

Each reader process writes the customers it changed to its own spool file (one
JSON line each: Shopify id, email and the three code lists' JSON, exactly as
written to the Matrixify import), so the mirror never forces the update down to
one reader. Once the outputs are written, the mirror upserts the members from
the spools (``records``). Spool files are hidden temporary files in the output
folder (``.rewards-mirror-*.tmp``): removed when the run ends, and by the next
run if this one was killed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from memberkit.domain.members import MemberRecord

_BUFFER = 1 << 20


class SpoolWriter:
    """Appends changed members to one spool file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fh: IO[str] | None = path.open("w", encoding="utf-8", buffering=_BUFFER)

    def write(self, shopify_id: str, email: str, available: str, used: str, expired: str) -> None:
        """One changed member (the code lists as compact JSON text)."""
        assert self._fh is not None
        self._fh.write(json.dumps([shopify_id, email, available, used, expired]) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class ChangedMembersSpool:
    """This process's spool file, plus the parts other readers wrote and handed over."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.writer = SpoolWriter(self.new_part())
        self._parts: list[tuple[Path, int]] = []

    def new_part(self) -> Path:
        """A new empty spool file (for another reader process to write)."""
        fd, name = tempfile.mkstemp(prefix=".rewards-mirror-", suffix=".tmp", dir=self.directory)
        os.close(fd)
        return Path(name)

    def add_part(self, path: Path, count: int) -> None:
        """Take over ``path``, holding ``count`` members another reader wrote."""
        self._parts.append((path, count))

    def paths(self) -> list[Path]:
        """Every spool file in use (this process's and the parts handed over)."""
        return [self.writer.path, *(path for path, _ in self._parts)]

    @property
    def count(self) -> int:
        """How many changed members are spooled (all files)."""
        return self.writer.count + sum(count for _, count in self._parts)

    def records(self) -> Iterator[MemberRecord]:
        """Every spooled member, this process's first, as the member upsert takes them."""
        self.writer.close()
        for path in self.paths():
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    shopify_id, email, available, used, expired = json.loads(line)
                    yield MemberRecord(
                        shopify_id=shopify_id,
                        email=email or None,
                        codes_available=available,
                        codes_used=used,
                        codes_expired=expired,
                    )

    def close(self) -> None:
        """Remove every spool file."""
        self.writer.close()
        for path in self.paths():
            path.unlink(missing_ok=True)
