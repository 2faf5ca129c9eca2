"""The code reuse rules: which member codes the usage export shows used twice (issue 8.12)."""

from __future__ import annotations

import datetime as dt

from memberkit.domain.rewards import CodeOwner, CodeUse, find_code_reuse, repeated_uses


def use(order: str, day: int, hour: int = 12) -> CodeUse:
    moment = dt.datetime(2026, 11, day, hour, tzinfo=dt.UTC)
    return CodeUse(order=order, used_on=moment.date(), moment=moment)


def test_only_codes_used_in_two_distinct_orders_are_repeated() -> None:
    pairs = [
        ("a", use("#2", 18)),
        ("a", use("#1", 17)),
        ("a", use("#1", 17, 13)),  # another line item of the same order
        ("b", use("#3", 18)),
        ("b", use("#3", 18)),
    ]
    assert repeated_uses(pairs) == {"a": [use("#1", 17), use("#2", 18)]}


def test_a_member_code_used_in_two_orders_is_reuse() -> None:
    owners = {"a": CodeOwner("11", "ann@x.com", "A", already_used=False)}
    repeated = {"a": [use("#1", 17), use("#2", 18)]}
    [found] = find_code_reuse(owners, {"a": use("#1", 17)}, repeated)
    assert found.cells() == [
        "A",
        "ann@x.com",
        "11",
        "#1; #2",
        "2026-11-17; 2026-11-18",
        "used in 2 orders",
    ]


def test_a_code_consumed_by_one_order_is_not_reuse() -> None:
    owners = {"a": CodeOwner("11", "ann@x.com", "A", already_used=False)}
    assert find_code_reuse(owners, {"a": use("#1", 17)}, {}) == []


def test_an_already_used_code_seen_again_in_the_order_that_used_it_is_not_reuse() -> None:
    # Yesterday's run moved it to used for order #1; the 7-day export still lists #1.
    owners = {
        "a": CodeOwner(
            "11", "a@x.com", "A", already_used=True, used_order="#1", used_on="2026-11-17"
        )
    }
    assert find_code_reuse(owners, {"a": use("#1", 17)}, {}) == []


def test_an_already_used_code_in_another_order_is_reuse_naming_the_earlier_use() -> None:
    owners = {
        "a": CodeOwner(
            "11", "a@x.com", "A", already_used=True, used_order="#0907", used_on="2026-05-02"
        ),
        "b": CodeOwner("12", "b@x.com", "B", already_used=True),  # no order recorded
    }
    uses = {"a": use("#1", 18), "b": use("#2", 17)}
    first, second = find_code_reuse(owners, uses, {})
    assert (first.code, first.reason) == ("B", "already used, used again in 1 order")
    assert (second.code, second.reason) == (
        "A",
        "already used in #0907 on 2026-05-02, used again in 1 order",
    )
