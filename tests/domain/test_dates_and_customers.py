"""Dates from exports, and customer ids and emails as they arrive."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from memberkit.domain.customers import CustomerIdError, customer_id
from memberkit.domain.dates import (
    DateParseError,
    created_date,
    leading_date,
    local_date,
    parse_moment,
)
from memberkit.domain.echo import echo
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


def test_an_id_longer_than_64_bits_is_refused_before_any_conversion() -> None:
    assert customer_id("9223372036854775807") == "9223372036854775807"
    for cell in ["9223372036854775808", "1" * 5000, "'" + "1" * 25]:
        with pytest.raises(CustomerIdError, match="too large") as info:
            customer_id(cell)
        assert len(str(info.value)) < 200


def test_created_date_is_blank_a_date_or_an_error() -> None:
    assert created_date("") == "" and created_date("  ") == ""
    assert created_date("2021-03-04 10:11:12 +0000") == "2021-03-04"
    for text in ["next spring", "2026-02-30", "04/03/2021"]:
        with pytest.raises(DateParseError):
            created_date(text)


def test_echo_cuts_long_values_and_shows_invisible_characters() -> None:
    assert echo("a\u200bb") == "'a\\u200bb'"
    long = echo("x" * 50_000_000)
    assert len(long) <= 80 and long.endswith("…")


def test_a_huge_date_cell_is_refused_at_once() -> None:
    zone = ZoneInfo("Europe/London")
    for text in [" " * 1_000_000 + "+0000", "2026-11-18" + "x" * 1_000_000]:
        with pytest.raises(DateParseError) as info:
            parse_moment(text, zone)
        assert len(str(info.value)) < 200
