"""Echoing a value that a user or a file supplied inside a message, kept readable.

Messages quote the cell they are about, but a cell can be anything: 50 MB of a
one-line file, control characters, a terminal escape. ``echo`` gives the
value's ``repr`` (so invisible and control characters show as escapes) cut to
about ``ECHO_LIMIT`` characters with an ellipsis, so one bad row can never flood
a log or a terminal.
"""

from __future__ import annotations

ECHO_LIMIT = 80


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` of at most ``limit`` characters, cut with ``…`` (long input read once)."""
    if isinstance(value, str) and len(value) > limit:
        # Only the head is repr'd: a 50 MB string is never copied whole.
        return repr(value[:limit])[: limit - 1] + "…"
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 4000 else "<number>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` itself, cut to at most ``limit`` characters with ``…``."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
