"""Rejects files: the rows a run could not use, as read, plus a ``Failure Reason``.

Rejects are for people; like every CSV we write, formula-like cells are
neutralised with a leading ``'``. ``Failure Reason`` is always the last column,
whatever the width of the row: a short row is padded to the header, and the
cells of a row wider than the header (a delimiter inside an unquoted cell)
beyond the header's last column are joined back into that column with the
file's delimiter, so the rejects file stays rectangular and keeps every cell's
text. The file is only created when the first row is rejected, and like every
output it stays under a temporary name until the run publishes its files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from memberkit.files.csv_output import CsvOutput, CsvRowWriter

REJECTS_PATTERN = "rejects_%s.csv"
USAGE_REJECTS_PATTERN = "rejects_usage_%s.csv"
REASON_COLUMN = "Failure Reason"


def reject_row(cells: Sequence[str], reason: str, width: int, delimiter: str = ",") -> list[str]:
    """The rejects-file row: the cells as read, fitted to the header's ``width``, then the reason.

    Extra cells are joined into the last column with ``delimiter``; blank extra
    cells at the end (trailing delimiters) are dropped.
    """
    if len(cells) <= width:
        return [*cells, *[""] * (width - len(cells)), reason]
    extra = list(cells[width:])
    while extra and not extra[-1].strip():
        extra.pop()
    if width == 0:
        return [reason]
    last = delimiter.join([cells[width - 1], *extra]) if extra else cells[width - 1]
    return [*cells[: width - 1], last, reason]


class RejectsPart:
    """Rejected rows written by a second process, without a header, to append later."""

    def __init__(self, path: Path, header: Sequence[str], delimiter: str = ",") -> None:
        self.width = len(header)
        self.delimiter = delimiter
        self.writer = CsvRowWriter(path, None)

    def write(self, cells: Sequence[str], reason: str) -> None:
        self.writer.write(reject_row(cells, reason, self.width, self.delimiter))

    def close(self) -> None:
        self.writer.close()


class RejectsFile:
    """Rejected rows of one source file, written on demand."""

    def __init__(self, target: Path, header: Sequence[str], delimiter: str = ",") -> None:
        self.target = target
        self.header = [*header, REASON_COLUMN]
        self.delimiter = delimiter
        self.output: CsvOutput | None = None

    @property
    def rows_written(self) -> int:
        return self.output.rows_written if self.output else 0

    def write(self, cells: Sequence[str], reason: str) -> None:
        """Add a row (cells as read) and why it was rejected."""
        if self.output is None:
            self.output = CsvOutput(self.target, self.header)
        self.output.write(reject_row(cells, reason, len(self.header) - 1, self.delimiter))

    def append_part(self, part: Path, rows: int) -> None:
        """Append ``rows`` rejected rows written (without a header) by another process."""
        if rows == 0:
            return
        if self.output is None:
            self.output = CsvOutput(self.target, self.header)
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
