"""Birthday rules (no I/O): whose birthday is a given day, and which reminder a lot is due."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence


def birthday_in(year: int, birthday: dt.date) -> dt.date:
    """The day ``birthday`` falls on in ``year``: 29 February is 28 February in other years."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return dt.date(year, birthday.month, birthday.day)


def is_birthday(birthday: dt.date, today: dt.date) -> bool:
    """Whether ``today`` is the member's birthday this year."""
    return birthday_in(today.year, birthday) == today


def birthday_keys(today: dt.date) -> list[tuple[int, int]]:
    """The (month, day) pairs whose birthday is ``today`` (28 Feb also takes 29 Feb)."""
    keys = [(today.month, today.day)]
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        keys.append((2, 29))
    return keys


def due_notice(expires_on: dt.date, today: dt.date, notice_days: Sequence[int]) -> int | None:
    """The reminder due for a lot expiring on ``expires_on``: the smallest notice
    (in days before) that ``today`` is within; None when none is (or it has expired).

    With notices 30 and 7, a lot 20 days from expiry is due its 30-day reminder,
    one 5 days away its 7-day reminder (the 30-day one, if never sent, is skipped).
    """
    left = (expires_on - today).days
    if left < 0:
        return None
    within = [d for d in notice_days if left <= d]
    return min(within) if within else None
