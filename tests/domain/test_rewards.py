"""The four rules, in order: used, expired, sort, changed; and the max-value row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from memberkit.domain.codes import RewardCode
from memberkit.domain.rewards import (
    CodeUse,
    earliest_uses,
    max_value_cells,
    max_value_row,
    update_wallet,
)

TODAY = dt.date(2026, 11, 20)
UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")


def code(name: str, value: str = "10.00", expires: str | None = None, **extra: Any) -> RewardCode:
    raw: dict[str, Any] = {"code": name, "value": value, "min_spend": "0", **extra}
    if expires is not None:
        raw["expires"] = expires
    day = dt.date.fromisoformat(expires) if expires else None
    return RewardCode.of(raw, Decimal(value), Decimal(0), day)


def use(order: str, moment: dt.datetime) -> CodeUse:
    return CodeUse(order=order, used_on=moment.astimezone(LONDON).date(), moment=moment)


def test_a_used_code_moves_to_used_with_the_order_date_and_name() -> None:
    uses = {"div-1": use("#1002", dt.datetime(2026, 11, 18, 14, 14, tzinfo=UTC))}
    update = update_wallet([code("DIV-1"), code("DIV-2")], uses, TODAY)
    assert [c.code for c in update.available] == ["DIV-2"]
    assert update.newly_used == [
        {
            "code": "DIV-1",
            "value": "10.00",
            "min_spend": "0",
            "used_at": "2026-11-18",
            "order": "#1002",
        }
    ]
    assert update.changed


def test_codes_match_ignoring_case_and_surrounding_spaces() -> None:
    uses = earliest_uses(
        [(" div-7kq2 ".strip().lower(), use("#1", dt.datetime(2026, 11, 18, tzinfo=UTC)))]
    )
    update = update_wallet([code("  DIV-7KQ2 ")], uses, TODAY)
    assert len(update.newly_used) == 1


def test_when_a_code_is_in_several_orders_the_earliest_wins() -> None:
    later = use("#1005", dt.datetime(2026, 11, 19, 8, 0, tzinfo=UTC))
    earlier = use(
        "#1003", dt.datetime(2026, 11, 16, 19, 45, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    )
    uses = earliest_uses([("div-1", later), ("div-1", earlier)])
    update = update_wallet([code("DIV-1")], uses, TODAY)
    # 19:45 at -05:00 is 00:45 the next day in London: the store's date is used.
    assert update.newly_used[0]["order"] == "#1003"
    assert update.newly_used[0]["used_at"] == "2026-11-17"


def test_a_code_expired_before_today_moves_to_expired_with_today() -> None:
    update = update_wallet([code("OLD", expires="2026-11-19")], {}, TODAY)
    assert update.available == []
    assert update.newly_expired[0]["expired_at"] == "2026-11-20"
    assert update.changed


def test_a_code_expiring_today_stays_available() -> None:
    update = update_wallet([code("TODAY", expires="2026-11-20")], {}, TODAY)
    assert [c.code for c in update.available] == ["TODAY"]
    assert not update.changed


def test_a_code_that_is_used_and_expired_counts_as_used() -> None:
    uses = {"old": use("#9", dt.datetime(2026, 11, 14, tzinfo=UTC))}
    update = update_wallet([code("OLD", expires="2026-11-15")], uses, TODAY)
    assert len(update.newly_used) == 1 and update.newly_expired == []


def test_moved_codes_keep_their_keys_in_order_and_gain_the_new_ones_last() -> None:
    update = update_wallet([code("OLD", expires="2026-01-01", extra_key=1)], {}, TODAY)
    assert list(update.newly_expired[0]) == [
        "code",
        "value",
        "min_spend",
        "extra_key",
        "expires",
        "expired_at",
    ]


def test_remaining_codes_sort_by_value_then_expiry_then_code() -> None:
    wallet = [
        code("B", "10.00", "2027-01-01"),
        code("A", "10.00", "2027-01-01"),
        code("C", "10.00", None),
        code("D", "25.00", "2026-12-01"),
        code("E", "10", "2027-06-01"),
    ]
    update = update_wallet(wallet, {}, TODAY)
    assert [c.code for c in update.available] == ["D", "C", "E", "A", "B"]
    assert update.changed


def test_a_wallet_already_in_order_is_unchanged() -> None:
    wallet = [code("D", "25.00"), code("C", "10.00", "2027-01-01")]
    update = update_wallet(wallet, {}, TODAY)
    assert not update.changed
    assert update.newly_used == update.newly_expired == []


def test_max_value_row_takes_the_best_code_and_sums_the_balance() -> None:
    wallet = update_wallet([code("A", "5.00"), code("B", "12.5")], {}, TODAY).available
    row = max_value_row(
        "ann@example.com", wallet, account_state="enabled", member_since="2021-03-04"
    )
    assert row.csv_cells() == [
        "ann@example.com",
        "true",
        "B",
        "12.50",
        "0.00",
        "true",
        "2",
        "17.50",
        "enabled",
        "2021-03-04",
    ]


def test_max_value_row_without_codes() -> None:
    row = max_value_row("a@b.c", [], account_state="", member_since="")
    assert row.csv_cells() == ["a@b.c", "false", "", "0.00", "0.00", "false", "0", "0.00", "", ""]


money = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False)


@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=8), money, money, st.none() | st.dates()),
        max_size=6,
    ),
    st.text(max_size=10),
    st.text(max_size=10),
)
def test_the_fast_max_value_cells_equal_the_shared_row_format(
    specs: list[tuple[str, Decimal, Decimal, dt.date | None]], state: str, since: str
) -> None:
    wallet = [
        RewardCode.of({"code": name}, value, min_spend, expires)
        for name, value, min_spend, expires in specs
    ]
    wallet = update_wallet(wallet, {}, dt.date.min).available
    fast = max_value_cells("x@y.z", wallet, account_state=state, member_since=since)
    shared = max_value_row("x@y.z", wallet, account_state=state, member_since=since).csv_cells()
    assert fast == shared
