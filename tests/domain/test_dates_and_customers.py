"""Dates from exports, and customer ids and emails as they arrive."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from memberkit.domain.customers import CustomerIdError, customer_id
from memberkit.domain.dates import DateParseError, leading_date, local_date, parse_moment
from memberkit.domain.members import email_key

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-18 09:14:02 -0500", dt.date(2026, 11, 18)),
        ("2026-11-18 21:14:02 -0500", dt.date(2026, 11, 19)),  # 02:14 next day in London
        ("2026-11-18T23:30:00Z", dt.date(2026, 11, 18)),
        ("2026-07-18T23:30:00Z", dt.date(2026, 7, 19)),  # summer time
        ("2026-11-18T10:30:00+01:00", dt.date(2026, 11, 18)),
        ("2026-11-18T00:00:00", dt.date(2026, 11, 18)),
        ("2026-11-18", dt.date(2026, 11, 18)),
    ],
)
def test_dates_are_taken_in_the_store_time_zone(text: str, expected: dt.date) -> None:
    assert local_date(text, LONDON) == expected


@pytest.mark.parametrize("text", ["", "18/11/2026 09:14", "2026-02-30", "tomorrow"])
def test_unreadable_dates_raise(text: str) -> None:
    with pytest.raises(DateParseError):
        parse_moment(text, LONDON)


def test_leading_date_is_the_date_part_as_written() -> None:
    assert leading_date("2021-03-04 23:59:00 -0500") == "2021-03-04"
    assert leading_date("") == ""
    assert leading_date("04/03/2021") == ""


def test_ids_lose_a_leading_apostrophe_and_must_be_digits() -> None:
    assert customer_id("'6601000000001") == "6601000000001"
    assert customer_id(" 42 ") == "42"
    for bad in ("", "'", "abc", "=1+1", "12.5"):
        with pytest.raises(CustomerIdError):
            customer_id(bad)


def test_emails_compare_trimmed_and_lower_cased() -> None:
    assert email_key("  Ann.Jones@Example.COM ") == "ann.jones@example.com"
