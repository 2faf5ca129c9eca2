"""CSV outputs: UTF-8, a header row, RFC 4180 quoting (CRLF, quotes doubled), staged.

``SafeCsvWriter`` is the one writer every CSV we write goes through (max-value,
reviews, rejects, failed profiles, and any results or error file to come): a
cell a spreadsheet would run as a formula gets a leading ``'``
(``files.formula``), whoever supplied it. Clean rows (nearly all of them) are
recognised by one cheap test of the joined line and written as they are.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from memberkit.files.formula import neutralise_row
from memberkit.files.staging import StagedFile

_FORMULA_FIRST = frozenset("=+-@")
# In ",".join(cells) every cell starts at the line's start or after a ",": a cell whose
# first character is a formula prefix or a space is found here (cells that contain a
# "," only add false alarms, which the exact per-cell test then clears).
_SUSPECT_AFTER_COMMA = re.compile(r",[\s=+\-@]")


def _field(cell: str) -> str:
    """One cell as ``csv.writer`` (minimal quoting, CRLF) writes it."""
    if '"' in cell:
        return '"' + cell.replace('"', '""') + '"'
    if "," in cell or "\r" in cell or "\n" in cell:
        return '"' + cell + '"'
    return cell


def csv_line(cells: Sequence[str]) -> str | None:
    """The line ``csv.writer(lineterminator="\r\n")`` writes for ``cells``, without the
    terminator, or None where this shortcut does not apply (fewer than two cells, a
    cell that is not a string, a NUL).

    The writer's per-character loop is a large share of a run (a million rows, half
    of them with a JSON cell full of quotes); ``str`` methods do the same faster.
    A property test keeps the two equal. No formula safety here: see ``SafeCsvWriter``.
    """
    if len(cells) < 2:
        return None
    try:
        line = ",".join(cells)
    except TypeError:
        return None
    return _quoted(cells, line)


def _quoted(cells: Sequence[str], line: str) -> str | None:
    if "\0" in line:
        return None
    if (
        '"' not in line
        and "\r" not in line
        and "\n" not in line
        and line.count(",") == len(cells) - 1
    ):
        return line
    return ",".join([_field(cell) for cell in cells])


def _suspect(line: str) -> bool:
    """Whether some cell of the joined ``line`` may need a ``'`` (never False when one does)."""
    first = line[:1]
    return (
        first in _FORMULA_FIRST or first.isspace() or _SUSPECT_AFTER_COMMA.search(line) is not None
    )


class SafeCsvWriter:
    """Formula-safe CSV rows on an open text file (opened with ``newline=""``)."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh
        self._writer = csv.writer(fh, lineterminator="\r\n")

    def writerow(self, cells: Sequence[str]) -> None:
        """Write one row, formula-like cells neutralised."""
        try:
            line: str | None = ",".join(cells)
        except TypeError:
            line = None
        if line is None:
            self._writer.writerow(neutralise_row(str(cell) for cell in cells))
            return
        if _suspect(line):
            cells = neutralise_row(cells)
            line = ",".join(cells)
        quoted = _quoted(cells, line) if len(cells) >= 2 else None
        if quoted is None:
            self._writer.writerow(cells)
        else:
            self._fh.write(quoted + "\r\n")


class CsvRowWriter:
    """Rows written to the CSV file at ``path`` (header first), through ``SafeCsvWriter``."""

    def __init__(self, path: Path, header: Sequence[str] | None) -> None:
        self.rows_written = 0
        self._fh = path.open("w", encoding="utf-8", newline="", buffering=1 << 20)
        self._writer = SafeCsvWriter(self._fh)
        if header is not None:  # None: a part of a file, appended to another later
            self._writer.writerow(header)

    def write(self, cells: Sequence[str]) -> None:
        self._writer.writerow(cells)
        self.rows_written += 1

    def append_part(self, part: Path, rows: int) -> None:
        """Append the rows of a headerless part written by another ``CsvRowWriter``."""
        self._fh.flush()
        with part.open("rb") as source:
            shutil.copyfileobj(source, self._fh.buffer, 1 << 20)
        self.rows_written += rows

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


class CsvOutput:
    """A ``CsvRowWriter`` on a staged file: ``commit`` publishes it as ``target``."""

    def __init__(self, target: Path, header: Sequence[str]) -> None:
        self.staged = StagedFile(target)
        try:
            self.writer = CsvRowWriter(self.staged.temp, header)
        except BaseException:
            self.staged.discard()
            raise

    @property
    def target(self) -> Path:
        return self.staged.target

    @property
    def rows_written(self) -> int:
        return self.writer.rows_written

    def write(self, cells: Sequence[str]) -> None:
        self.writer.write(cells)

    def close(self) -> None:
        """Finish writing (the file stays under its temporary name until ``commit``)."""
        self.writer.close()

    def commit(self) -> Path:
        self.close()
        return self.staged.commit()

    def discard(self) -> None:
        self.close()
        self.staged.discard()
