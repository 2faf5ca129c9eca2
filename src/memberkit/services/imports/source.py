"""An import file opened for one pass: its header and its numbered rows (CSV or XLSX).

CSV goes through the one CSV reader (``files.csv_input``: encodings, BOM,
delimiters, CRLF, quoted newlines); a name ending ``.xlsx`` or ``.xlsm``
through ``files.xlsx_input`` (first sheet). A spreadsheet given under another
name is refused by the CSV reader with a clear message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from memberkit.errors import InputFileError
from memberkit.files.csv_input import open_csv
from memberkit.files.xlsx_input import xlsx_rows

SETTING = "import file"
XLSX_SUFFIXES = (".xlsx", ".xlsm")


@dataclass
class OpenImportFile:
    """A header and the data rows after it, as ``(row number, cells)``."""

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    delimiter: str = ","


def is_xlsx(name: str) -> bool:
    """Whether a file of this name is read as a workbook."""
    return Path(name).suffix.lower() in XLSX_SUFFIXES


@contextmanager
def open_import_file(
    path: Path, *, original_name: str, xlsx_reader: str = "calamine"
) -> Iterator[OpenImportFile]:
    """Open ``path`` (uploaded as ``original_name``) for one pass over its rows."""
    if is_xlsx(original_name):
        rows = xlsx_rows(path, setting=SETTING, reader=xlsx_reader)
        try:
            header = next(rows)
        except StopIteration:
            raise InputFileError(
                f"{SETTING} {original_name}: the first sheet is empty (no header row)"
            ) from None

        try:
            yield OpenImportFile(header, enumerate(rows, start=2))
        finally:
            rows.close()
        return
    with open_csv(path, setting=SETTING, encoding="auto") as source:
        yield OpenImportFile(list(source.header), source.records(), source.delimiter)
