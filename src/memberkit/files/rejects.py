"""Rejects files: the rows a run could not use, as read, plus a ``Failure Reason``.

Rejects are for people, so formula-like cells are neutralised with a leading
``'``. The file is only created when the first row is rejected, and like every
output it stays under a temporary name until the run publishes its files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from memberkit.files.csv_output import CsvOutput, CsvRowWriter

REJECTS_PATTERN = "rejects_%s.csv"
USAGE_REJECTS_PATTERN = "rejects_usage_%s.csv"
REASON_COLUMN = "Failure Reason"


def reject_row(cells: Sequence[str], reason: str, width: int) -> list[str]:
    """The rejects-file row: the cells as read, padded to the header, then the reason."""
    padded = list(cells) + [""] * (width - len(cells)) if len(cells) < width else list(cells)
    return [*padded, reason]


class RejectsPart:
    """Rejected rows written by a second process, without a header, to append later."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.width = len(header)
        self.writer = CsvRowWriter(path, None, people_facing=True)

    def write(self, cells: Sequence[str], reason: str) -> None:
        self.writer.write(reject_row(cells, reason, self.width))

    def close(self) -> None:
        self.writer.close()


class RejectsFile:
    """Rejected rows of one source file, written on demand."""

    def __init__(self, target: Path, header: Sequence[str]) -> None:
        self.target = target
        self.header = [*header, REASON_COLUMN]
        self.output: CsvOutput | None = None

    @property
    def rows_written(self) -> int:
        return self.output.rows_written if self.output else 0

    def write(self, cells: Sequence[str], reason: str) -> None:
        """Add a row (cells as read) and why it was rejected."""
        if self.output is None:
            self.output = CsvOutput(self.target, self.header, people_facing=True)
        self.output.write(reject_row(cells, reason, len(self.header) - 1))

    def append_part(self, part: Path, rows: int) -> None:
        """Append ``rows`` rejected rows written (without a header) by another process."""
        if rows == 0:
            return
        if self.output is None:
            self.output = CsvOutput(self.target, self.header, people_facing=True)
        self.output.writer.append_part(part, rows)

    def close(self) -> None:
        if self.output:
            self.output.close()

    def commit(self) -> Path | None:
        """Publish the file if any row was rejected; return its path (None if none)."""
        return self.output.commit() if self.output else None

    def discard(self) -> None:
        if self.output:
            self.output.discard()
