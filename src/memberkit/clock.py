"""The one place memberkit reads the wall clock: aware UTC, so every stored time is comparable."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)
