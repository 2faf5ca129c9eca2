"""The earning rules, without files or a database: points, skips, pending, take-backs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from memberkit.domain.earning import (
    Award,
    EarningRules,
    Order,
    Skip,
    base_points,
    evaluate_order,
    points_kept,
    take_back_due,
)

PLACED = dt.datetime(2026, 11, 18, 9, 14, tzinfo=dt.UTC)


def order(subtotal: str = "42.99", **kw: object) -> Order:
    fields: dict[str, object] = {
        "name": "#1001",
        "email": "ann@example.com",
        "financial_status": "paid",
        "subtotal": Decimal(subtotal),
        "currency": "GBP",
        "created_at": PLACED,
    }
    fields.update(kw)
    return Order(**fields)  # type: ignore[arg-type]


def test_points_are_the_subtotal_times_the_rate_rounded_down() -> None:
    rules = EarningRules.of(points_per_unit=Decimal("2"))
    verdict = evaluate_order(order("42.99"), rules, tier=None, first_order=False)
    assert isinstance(verdict, Award) and verdict.points == 85


def test_a_tier_multiplier_applies_by_tier_name_in_any_case() -> None:
    rules = EarningRules.of(tier_multipliers={"Gold": Decimal("1.5")})
    assert base_points(Decimal("10.00"), rules, "gold") == 15
    assert base_points(Decimal("10.00"), rules, "Silver") == 10


def test_the_first_order_bonus_comes_once_and_on_top() -> None:
    rules = EarningRules.of(first_order_bonus=50)
    first = evaluate_order(order("10"), rules, tier=None, first_order=True)
    later = evaluate_order(order("10"), rules, tier=None, first_order=False)
    assert isinstance(first, Award) and first.points == 60 and first.bonus == 50
    assert isinstance(later, Award) and later.points == 10


def test_points_are_pending_for_the_pending_period() -> None:
    verdict = evaluate_order(
        order(), EarningRules.of(pending_days=14), tier=None, first_order=False
    )
    assert isinstance(verdict, Award)
    assert verdict.available_from == PLACED + dt.timedelta(days=14)


def test_orders_that_do_not_earn_say_why() -> None:
    rules = EarningRules.of(
        min_subtotal=Decimal("5"), excluded_tags=["Wholesale"], excluded_codes=["STAFF50"]
    )

    def why(o: Order) -> str:
        verdict = evaluate_order(o, rules, tier=None, first_order=False)
        assert isinstance(verdict, Skip)
        return verdict.reason

    assert why(order(financial_status="pending")) == "not_paid"
    assert why(order(financial_status="refunded")) == "not_paid"
    assert why(order(cancelled_at=PLACED)) == "cancelled"
    assert why(order("4.99")) == "below_minimum"
    assert why(order(tags=("VIP", "wholesale "))) == "excluded_tag"
    assert why(order(discount_codes=("staff50",))) == "excluded_code"
    no_points = evaluate_order(order("0.50"), EarningRules.of(), tier=None, first_order=False)
    assert isinstance(no_points, Skip) and no_points.reason == "no_points"


def test_a_partly_refunded_order_earns_on_what_is_kept() -> None:
    verdict = evaluate_order(
        order("100.00", financial_status="partially_refunded", refunded=Decimal("25.00")),
        EarningRules.of(),
        tier=None,
        first_order=False,
    )
    assert isinstance(verdict, Award) and verdict.points == 75 and verdict.taken == 25


def test_a_refund_takes_back_in_proportion_and_only_once() -> None:
    first = take_back_due(
        earned_base=100,
        earned_bonus=0,
        already_taken=0,
        subtotal=Decimal("100"),
        refunded=Decimal("30"),
        cancelled=False,
    )
    assert first == 30
    again = take_back_due(
        earned_base=100,
        earned_bonus=0,
        already_taken=30,
        subtotal=Decimal("100"),
        refunded=Decimal("30"),
        cancelled=False,
    )
    assert again == 0


def test_a_cancellation_takes_back_everything_including_the_bonus() -> None:
    due = take_back_due(
        earned_base=40,
        earned_bonus=50,
        already_taken=10,
        subtotal=Decimal("40"),
        refunded=Decimal("10"),
        cancelled=True,
    )
    assert due == 80


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2)


@given(
    base=st.integers(0, 10**7),
    bonus=st.integers(0, 1000),
    subtotal=amounts,
    refunds=st.lists(st.decimals(min_value=0, max_value=Decimal("200000"), places=2), max_size=6),
    cancel_at=st.integers(0, 8),
)
def test_take_backs_never_exceed_what_was_earned_and_only_grow(
    base: int, bonus: int, subtotal: Decimal, refunds: list[Decimal], cancel_at: int
) -> None:
    taken = 0
    refunded = Decimal(0)
    for step, amount in enumerate(refunds):
        refunded = max(refunded, amount)  # Shopify's refunded amount only grows
        due = take_back_due(
            earned_base=base,
            earned_bonus=bonus,
            already_taken=taken,
            subtotal=subtotal,
            refunded=refunded,
            cancelled=step >= cancel_at,
        )
        assert due >= 0
        taken += due
        assert taken <= base + bonus
        kept = points_kept(base, bonus, subtotal=subtotal, refunded=refunded, cancelled=False)
        assert taken >= base + bonus - kept or step >= cancel_at
    if refunds and (refunded >= subtotal or len(refunds) > cancel_at):
        assert taken == base + bonus


@given(subtotal=amounts, rate=st.decimals(min_value=0, max_value=100, places=2))
def test_points_are_never_more_than_the_exact_product(subtotal: Decimal, rate: Decimal) -> None:
    points = base_points(subtotal, EarningRules.of(points_per_unit=rate))
    assert isinstance(points, int)
    assert points <= subtotal * rate < points + 1
