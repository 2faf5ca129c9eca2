"""Reading the first sheet of an XLSX file as rows of text cells, one pass.

Two readers, chosen by ``imports.xlsx_reader``:

- ``calamine`` (python-calamine, Rust): the default. About 10x faster than
  openpyxl on a million rows (see docs/imports.md for the measurements). It
  parses the sheet in Rust and hands rows over one at a time, so Python never
  holds more than a row; the Rust side holds the sheet's cells (compactly).
- ``openpyxl`` in read-only mode: pure Python, streams the sheet XML, so memory
  stays flat whatever the size, at a much higher cost per cell.

Cells come back as the text a person sees: whole numbers without ``.0``
(Excel stores every number as a float), dates as ``yyyy-mm-dd``, booleans as
``TRUE``/``FALSE``, empty cells as ``""``. Trailing empty cells are kept as
the sheet has them; blank rows are skipped. Row numbers are the sheet's, the
header being row 1 when it is the first row.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from memberkit.errors import InputFileError

XLSX_READERS = ("calamine", "openpyxl")


def cell_text(value: Any) -> str:
    """A cell's value as the text a person sees in the sheet."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**63:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _check_zip(path: Path, setting: str) -> None:
    if not path.is_file():
        raise InputFileError(f"{setting} {path}: file not found")
    if not zipfile.is_zipfile(path):
        raise InputFileError(
            f"{setting} {path}: is not an XLSX workbook",
            hint="save it from the spreadsheet as .xlsx, or give a CSV file a .csv name",
        )


def xlsx_rows(
    path: Path, *, setting: str, reader: str = "calamine"
) -> Generator[list[str], None, None]:
    """Every non-blank row of the first sheet, as text cells (the header first)."""
    _check_zip(path, setting)
    rows = _calamine_rows(path, setting) if reader == "calamine" else _openpyxl_rows(path, setting)
    for values in rows:
        cells = [cell_text(v) for v in values]
        if any(c.strip() for c in cells):
            yield cells


def _calamine_rows(path: Path, setting: str) -> Iterator[list[Any]]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
    except Exception as exc:  # calamine raises its own error types for broken workbooks
        raise InputFileError(f"{setting} {path}: cannot read the workbook: {exc}") from None
    try:
        yield from sheet.iter_rows()
    finally:
        workbook.close()


def _openpyxl_rows(path: Path, setting: str) -> Iterator[list[Any]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise InputFileError(f"{setting} {path}: cannot read the workbook: {exc}") from None
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()
