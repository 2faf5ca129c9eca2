"""Printing what users and files supplied, safely: no Rich markup, no terminal control.

Member names, emails, notes, codes and error messages come from exports and
command lines, so they may hold ``[shopify]`` (which Rich would read as a style
tag and drop), or control characters and escape sequences (``\\x1b[31m``, an
OSC 8 hyperlink, ``\\r`` that overwrites a line, a bidi override) that a terminal
would act on. Everything the CLI prints goes through this module:

* ``printable(value)``: the text with every control and format character shown
  as an escape (``\\x1b``, ``\\u202e``), so it is seen, not interpreted;
* ``markup_safe(value)``: ``printable`` plus Rich markup escaped, for the rare
  string that mixes our markup with a value;
* ``SafeConsole``: a Rich console with markup and highlighting off that applies
  ``printable`` (keeping our own line breaks) to every string it prints;
* ``print_table``: a table, never cut when stdout is not a terminal;
* ``print_json``: JSON on stdout with the same characters escaped as ``\\uXXXX``.

Output files are not affected: they stay formula-safe through ``memberkit.files``.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# C0 and C1 controls, DEL, Unicode "format" characters (zero-width and bidi
# controls, which hide or reorder text), line and paragraph separators, and lone
# surrogates. Other non-printable characters (a no-break space) print as they are.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(text: str, *, keep_newlines: bool) -> str:
    if text.isprintable():  # the fast path: nearly every value
        return text
    out = []
    for ch in text:
        if (
            ch.isprintable()
            or unicodedata.category(ch) not in _UNSAFE_CATEGORIES
            or (ch == "\n" and keep_newlines)
        ):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def printable(value: object) -> str:
    """``value`` as text with control and format characters shown as escapes."""
    return _escape(str(value), keep_newlines=False)


def markup_safe(value: object) -> str:
    """``printable(value)`` with Rich markup escaped, to put inside a markup string."""
    return escape(printable(value))


class SafeConsole(Console):
    """A console that never interprets what it prints: no markup, no control characters.

    Strings are printed with ``printable`` applied, line breaks kept (our own
    multi-line output); Rich renderables (tables, ``Text``) are printed as they
    are, so build their cells with ``printable``.
    """

    def __init__(self, *, stderr: bool = False) -> None:
        super().__init__(stderr=stderr, markup=False, highlight=False, soft_wrap=True, emoji=False)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        kwargs["markup"] = False
        safe = [
            _escape(obj, keep_newlines=True) if isinstance(obj, str) else obj for obj in objects
        ]
        super().print(*safe, **kwargs)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout; Decimals and dates become strings.

    Non-ASCII text stays readable, but control and format characters are written
    as ``\\uXXXX`` escapes (still valid JSON, decoding to the same value).
    """
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    if not text.isprintable():
        text = "".join(
            f"\\u{ord(ch):04x}"
            if ch != "\n"
            and not ch.isprintable()
            and unicodedata.category(ch) in _UNSAFE_CATEGORIES
            else ch
            for ch in text
        )
    typer.echo(text)


def print_table(table: Table) -> None:
    """Print a table on stdout: fitted to a terminal, at full width when piped.

    Rich fits a table to the console width and cuts cells (``2026-12-…``); a
    file or a pipe has no width, so there every value is printed whole.
    """
    if stdout.is_terminal:
        stdout.print(table)
    else:
        stdout.print(table, width=100_000, crop=False)


# stdout carries results (tables, --json); stderr carries progress and problems.
stdout = SafeConsole()
stderr = SafeConsole(stderr=True)
