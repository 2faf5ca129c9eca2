"""``memberkit import template KIND``: an empty file with the kind's columns and one example row."""

from __future__ import annotations

from pathlib import Path

from memberkit.domain.imports import IMPORT_KINDS, SPECS
from memberkit.errors import InvalidValueError
from memberkit.files.atomic import atomic_path
from memberkit.files.csv_output import CsvRowWriter


def check_kind(kind: str) -> str:
    """``kind`` if it is an import kind, else an ``InvalidValueError`` listing them."""
    if kind not in IMPORT_KINDS:
        raise InvalidValueError(
            f"unknown import kind {kind!r}; use one of {', '.join(IMPORT_KINDS)}"
        )
    return kind


def write_template(kind: str, path: Path, *, xlsx: bool = False) -> Path:
    """Write the template of ``kind`` to ``path`` (CSV, or XLSX with ``xlsx``); returns it.

    An existing file is not overwritten: a ``-2``, ``-3``... name is used instead.
    """
    spec = SPECS[check_kind(kind)]
    target = path
    counter = 2
    while target.exists():
        target = path.with_name(f"{path.stem}-{counter}{path.suffix}")
        counter += 1
    with atomic_path(target) as temp:
        if xlsx:
            import xlsxwriter

            workbook = xlsxwriter.Workbook(str(temp))
            sheet = workbook.add_worksheet(kind)
            text = workbook.add_format({"num_format": "@"})
            for col, name in enumerate(spec.template):
                sheet.write_string(0, col, name)
                sheet.write_string(1, col, spec.example[col], text)
                sheet.set_column(col, col, 24, text)
            workbook.close()
        else:
            writer = CsvRowWriter(temp, spec.template)
            writer.write(spec.example)
            writer.close()
    return target
