"""CSV outputs: UTF-8, a header row, RFC 4180 quoting (CRLF, quotes doubled), staged.

Import files (max-value, reviews) are written exactly as given; people-facing
files (rejects) pass ``people_facing=True`` so formula-like cells get a ``'``.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from pathlib import Path

from memberkit.files.formula import neutralise_row
from memberkit.files.staging import StagedFile


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
    A property test keeps the two equal.
    """
    if len(cells) < 2:
        return None
    try:
        line = ",".join(cells)
    except TypeError:
        return None
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


class CsvRowWriter:
    """Rows written to the CSV file at ``path`` (header first)."""

    def __init__(
        self,
        path: Path,
        header: Sequence[str] | None,
        *,
        people_facing: bool = False,
    ) -> None:
        self.people_facing = people_facing
        self.rows_written = 0
        self._fh = path.open("w", encoding="utf-8", newline="", buffering=1 << 20)
        self._writer = csv.writer(self._fh, lineterminator="\r\n")
        if header is not None:  # None: a part of a file, appended to another later
            self._writer.writerow(neutralise_row(header) if people_facing else header)

    def write(self, cells: Sequence[str]) -> None:
        if self.people_facing:
            self._writer.writerow(neutralise_row(cells))
        else:
            line = csv_line(cells)
            if line is None:
                self._writer.writerow(cells)
            else:
                self._fh.write(line + "\r\n")
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

    def __init__(self, target: Path, header: Sequence[str], *, people_facing: bool = False) -> None:
        self.staged = StagedFile(target)
        try:
            self.writer = CsvRowWriter(self.staged.temp, header, people_facing=people_facing)
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
