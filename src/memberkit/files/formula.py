"""Formula safety for spreadsheets.

A cell starting with ``=``, ``+``, ``-`` or ``@`` may run as a formula when a
person opens the file in Excel or LibreOffice. Files other systems import are
never altered (a customer whose email or code looks like that is rejected
instead); files meant for people neutralise such cells with a leading ``'``.
Excel also holds at most 32,767 characters in a cell.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_PREFIXES = ("=", "+", "-", "@")
EXCEL_CELL_LIMIT = 32_767


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could take ``text`` (trimmed) for a formula."""
    return text.lstrip().startswith(FORMULA_PREFIXES)


def neutralise(text: str) -> str:
    """``text`` made safe for a people-facing spreadsheet: formula-like cells get a ``'``."""
    return "'" + text if is_formula_like(text) else text


def neutralise_row(cells: Iterable[str]) -> list[str]:
    """Every cell of a row neutralised."""
    return [neutralise(cell) for cell in cells]
