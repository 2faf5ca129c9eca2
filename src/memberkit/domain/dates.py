"""Dates and datetimes as they appear in Shopify exports and reward codes.

Shopify writes ``2026-11-18 09:14:02 -0500``; other exports write ISO 8601 with
``Z`` or ``+01:00``, or a bare date. Every one of them is turned into a moment
and then into a calendar date in the store's time zone (``processing.timezone``),
because "expired before today" and "used on" are the store's days, not UTC's.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from memberkit.domain.echo import echo

# "2026-11-18 09:14:02 -0500": Python's ISO parser wants no space before the offset.
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=[+-]\d{2}:?\d{2}$)")
# No date or datetime we read is longer; longer text is refused before any pattern
# runs over it (a cell of a million spaces would take the pattern above for ever).
MAX_DATE_LENGTH = 64


class DateParseError(ValueError):
    """Text that is not a date or datetime we understand."""


def parse_moment(text: str, zone: ZoneInfo) -> dt.datetime:
    """An aware datetime from a date or datetime text; naive values are in ``zone``.

    A bare date means the start of that day in ``zone``. Raise ``DateParseError``.
    """
    if len(text) > MAX_DATE_LENGTH and len(text.strip()) > MAX_DATE_LENGTH:
        raise DateParseError(f"not a date: {echo(text)}")
    cleaned = _SPACE_BEFORE_OFFSET.sub("", text.strip())
    if len(cleaned) < 10:
        raise DateParseError(f"not a date: {echo(text)}")
    try:
        if len(cleaned) == 10:
            day = dt.date.fromisoformat(cleaned)
            return dt.datetime(day.year, day.month, day.day, tzinfo=zone)
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise DateParseError(f"not a date: {echo(text)}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment


def local_date(text: str, zone: ZoneInfo) -> dt.date:
    """The calendar date in ``zone`` of a date or datetime text (a bare date is itself)."""
    stripped = text.strip()
    if len(stripped) == 10:
        try:
            return dt.date.fromisoformat(stripped)
        except ValueError:
            raise DateParseError(f"not a date: {echo(text)}") from None
    return parse_moment(stripped, zone).astimezone(zone).date()


def leading_date(text: str) -> str:
    """The ``YYYY-MM-DD`` at the start of a date or datetime text, or ``""`` if none.

    Used for ``MBR_date_created``: the date part as written, no time-zone shift.
    """
    head = text.strip()[:10]
    try:
        return dt.date.fromisoformat(head).isoformat() if len(head) == 10 else ""
    except ValueError:
        return ""


def created_date(text: str) -> str:
    """``leading_date`` of a member-since cell that must be blank or a date.

    ``""`` for a blank cell; raise ``DateParseError`` for text that does not
    start with a real ``YYYY-MM-DD`` day (``next spring``, ``2026-02-30``), so
    the caller can count it instead of losing it in silence.
    """
    if not text or text.isspace():
        return ""
    day = leading_date(text)
    if not day:
        raise DateParseError(f"not a date: {echo(text)}")
    return day
