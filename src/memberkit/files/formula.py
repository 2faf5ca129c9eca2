"""Formula safety for spreadsheets.

A cell starting with ``=``, ``+``, ``-`` or ``@`` may run as a formula when a
person opens the file in Excel or LibreOffice, also after leading spaces, tabs
or line breaks (a spreadsheet or an importer may trim them: ``"\\t=1+1"`` would
come out as ``=1+1``). Every CSV we write goes through one writer
(``files.csv_output``) that neutralises such cells with a leading ``'``, so the
cell is text wherever it is opened. A plain number stays as it is: ``-5`` and
``-5.00`` are numbers, not formulas (``-1+1`` is not a number, so it gets the
``'``). The XLSX writer needs none of this: every cell is an inline string.

Inputs are judged with ``is_formula_like`` too: a customer whose email or code
looks like a formula is rejected, not written with a changed value, because
those values are keys other systems import.

Excel also holds at most 32,767 characters in a cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_PREFIXES = ("=", "+", "-", "@")
EXCEL_CELL_LIMIT = 32_767

# A negative plain number: left alone by the writer (ASCII digits only).
_NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?", re.ASCII)
#: First characters worth the full test: the prefixes, and what a trim would remove.
SUSPECT_FIRST = frozenset("=+-@") | frozenset(chr(c) for c in range(0x21) if chr(c).isspace())


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could take ``text`` (trimmed) for a formula."""
    return text.lstrip().startswith(FORMULA_PREFIXES)


def needs_neutralising(text: str) -> bool:
    """Whether the writer must put a ``'`` before ``text``: formula-like, not a plain number."""
    return is_formula_like(text) and _NEGATIVE_NUMBER.fullmatch(text) is None


def neutralise(text: str) -> str:
    """``text`` made safe for a spreadsheet: formula-like cells get a ``'``."""
    return "'" + text if needs_neutralising(text) else text


def neutralise_row(cells: Iterable[str]) -> list[str]:
    """Every cell of a row neutralised."""
    return [neutralise(cell) for cell in cells]
