"""The pure ledger rules: allocation order, debt, expiry instants, as-of times, keys."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from memberkit.domain.ledger import (
    Allocation,
    DebtPayment,
    DebtState,
    EntryContent,
    InsufficientPointsError,
    LotState,
    content_differences,
    expiry_instant,
    is_expired,
    parse_as_of,
    parse_points,
    plan_debit,
    plan_settlement,
)
from memberkit.errors import InvalidValueError, UsageError

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC


def test_debit_takes_earliest_expiry_first_and_lots_without_expiry_last() -> None:
    lots = [
        LotState(1, 50, None),
        LotState(2, 30, dt.date(2027, 6, 1)),
        LotState(3, 20, dt.date(2027, 1, 1)),
    ]
    plan = plan_debit(lots, 60)
    assert plan.allocations == (Allocation(3, 20), Allocation(2, 30), Allocation(1, 10))
    assert plan.shortfall == 0


def test_lots_with_the_same_expiry_are_used_oldest_first() -> None:
    lots = [LotState(7, 10, dt.date(2027, 1, 1)), LotState(4, 10, dt.date(2027, 1, 1))]
    assert plan_debit(lots, 15).allocations == (Allocation(4, 10), Allocation(7, 5))


def test_a_debit_larger_than_the_balance_fails_with_both_numbers() -> None:
    with pytest.raises(InsufficientPointsError) as caught:
        plan_debit([LotState(1, 120, None)], 200)
    assert str(caught.value) == "insufficient points: balance 120, requested 200"


def test_allow_negative_records_the_shortfall() -> None:
    plan = plan_debit([LotState(1, 120, None)], 200, allow_negative=True)
    assert plan.allocations == (Allocation(1, 120),)
    assert plan.shortfall == 80


def test_arriving_points_pay_the_oldest_debt_first() -> None:
    payments = plan_settlement([LotState(9, 100, None)], [DebtState(5, 30), DebtState(3, 90)])
    assert payments == [DebtPayment(9, 3, 90), DebtPayment(9, 5, 10)]


def test_expiry_takes_effect_at_midnight_after_the_date_in_the_store_time_zone() -> None:
    # 1 July is British Summer Time: 00:00 on 2 July in London is 23:00 UTC on 1 July.
    assert expiry_instant(dt.date(2027, 7, 1), LONDON) == dt.datetime(2027, 7, 1, 23, tzinfo=UTC)
    assert expiry_instant(dt.date(2027, 1, 1), LONDON) == dt.datetime(2027, 1, 2, tzinfo=UTC)


def test_a_lot_expiring_today_still_counts_until_midnight() -> None:
    day = dt.date(2027, 1, 1)
    assert not is_expired(day, at=dt.datetime(2027, 1, 1, 23, 59, 59, tzinfo=UTC), zone=LONDON)
    assert is_expired(day, at=dt.datetime(2027, 1, 2, 0, 0, tzinfo=UTC), zone=LONDON)
    assert not is_expired(None, at=dt.datetime(2999, 1, 1, tzinfo=UTC), zone=LONDON)


def test_as_of_a_bare_date_means_the_end_of_that_day() -> None:
    moment = parse_as_of("2027-07-01", LONDON)
    assert moment == dt.datetime(2027, 7, 1, 22, 59, 59, 999999, tzinfo=UTC)


def test_as_of_a_time_without_offset_is_in_the_store_time_zone() -> None:
    assert parse_as_of("2027-07-01T14:30", LONDON) == dt.datetime(2027, 7, 1, 13, 30, tzinfo=UTC)
    assert parse_as_of("2027-07-01 14:30", LONDON) == dt.datetime(2027, 7, 1, 13, 30, tzinfo=UTC)


def test_as_of_a_time_with_offset_is_that_instant() -> None:
    assert parse_as_of("2027-07-01T14:30Z", LONDON) == dt.datetime(2027, 7, 1, 14, 30, tzinfo=UTC)
    expected = dt.datetime(2027, 7, 1, 12, 30, tzinfo=UTC)
    assert parse_as_of("2027-07-01T14:30+02:00", LONDON) == expected


def test_a_malformed_as_of_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--as-of"):
        parse_as_of("yesterday", LONDON)


@pytest.mark.parametrize("text", ["12.5", "ten", "", "1e3"])
def test_points_must_be_whole_numbers(text: str) -> None:
    with pytest.raises(InvalidValueError, match="whole number"):
        parse_points(text)


def test_points_must_be_positive_unless_allowed() -> None:
    with pytest.raises(InvalidValueError, match="more than 0"):
        parse_points("0")
    with pytest.raises(InvalidValueError, match="negative"):
        parse_points("-5")
    assert parse_points("0", allow_zero=True) == 0
    # "1,000" is refused since issue 9: tests/test_points_argument.py.


def test_content_differences_name_each_field_that_differs() -> None:
    first = EntryContent(1, "credit", 100, dt.date(2027, 1, 31), "manual", None)
    same = EntryContent(1, "credit", 100, dt.date(2027, 1, 31), "manual", None)
    other = EntryContent(1, "credit", 150, None, "manual", None)
    assert content_differences(first, same) == []
    assert content_differences(first, other) == [
        "points 100 then 150",
        "expires_on 2027-01-31 then none",
    ]


def test_a_debit_reversal_gives_back_what_each_lot_lent_except_expired_lots() -> None:
    from memberkit.domain.ledger import plan_debit_reversal

    plan = plan_debit_reversal([(1, 30), (2, 20), (1, 5)], expired_lots={2}, unpaid_debt=7)
    assert plan.restore == {1: 35}
    assert (plan.cancelled_debt, plan.kept_expired, plan.points) == (7, 20, 42)


def test_a_partly_spent_or_expired_credit_cannot_be_reversed() -> None:
    from memberkit.domain.ledger import ReversalError, check_credit_reversal

    check_credit_reversal(5, points=10, remaining=10, expired=False, expires_on=None)
    with pytest.raises(ReversalError, match="4 of its 10 points are already spent"):
        check_credit_reversal(5, points=10, remaining=6, expired=False, expires_on=None)
    with pytest.raises(ReversalError, match="expired after 2027-01-31"):
        check_credit_reversal(
            5, points=10, remaining=0, expired=True, expires_on=dt.date(2027, 1, 31)
        )


def test_lots_due_for_expiry_come_in_expiry_order() -> None:
    from memberkit.domain.ledger import TimedLot, due_for_expiry

    at = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    lots = [
        TimedLot(3, 5, at),
        TimedLot(1, 5, at - dt.timedelta(days=1)),
        TimedLot(2, 0, at - dt.timedelta(days=2)),  # nothing left
        TimedLot(4, 5, None),
        TimedLot(5, 5, at + dt.timedelta(seconds=1)),
    ]
    assert [lot.lot_id for lot in due_for_expiry(lots, at=at)] == [1, 3]


def test_the_points_range_is_checked_without_printing_huge_numbers() -> None:
    from memberkit.domain.ledger import (
        POINTS_LIMIT,
        LedgerError,
        check_posting_amount,
        check_resulting_balance,
    )

    check_posting_amount(POINTS_LIMIT)
    check_resulting_balance(-POINTS_LIMIT)
    with pytest.raises(LedgerError, match=r"at most 1,000,000,000,000 points") as caught:
        check_posting_amount(10**10000)
    assert len(caught.value.message) < 200
    with pytest.raises(LedgerError, match="debt"):
        check_resulting_balance(-POINTS_LIMIT - 1)
