"""Earning rules: how many points an order earns, when they become spendable, and take-backs.

Plain functions over plain data; ``services.earning`` applies them to orders
read from Shopify's orders export or received as webhooks, so both sources
award the same points for the same order.

* **Points** are ``Subtotal`` (after discounts, before shipping and tax) times
  ``points_per_unit`` times the member's tier multiplier, rounded **down** to a
  whole point, plus ``first_order_bonus`` on a member's first earning order.
* **Skipped**: orders not ``paid`` / ``partially_refunded``, cancelled ones,
  below ``min_subtotal``, with an excluded tag or discount code, or earning 0.
* **Pending**: earned points are pending for ``pending_days`` after the order's
  ``Created at`` and spendable from then on (``available_from``).
* **Take-back**: a refund keeps ``floor(base * (subtotal - refunded) / subtotal)``
  of the base points (the bonus is kept while anything is left); a full refund
  or a cancellation keeps nothing. What is taken back only grows, and never
  exceeds what the order earned.

Money is ``Decimal``, points are ``int``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

EARNING_STATUSES = frozenset({"paid", "partially_refunded"})
"""Financial statuses that earn points."""

FULLY_REVERSED_STATUSES = frozenset({"refunded", "voided"})
"""Financial statuses that mean nothing of the order is kept."""

SkipReason = Literal[
    "not_paid",
    "cancelled",
    "below_minimum",
    "excluded_tag",
    "excluded_code",
    "no_points",
]
SKIP_REASONS: tuple[SkipReason, ...] = (
    "not_paid",
    "cancelled",
    "below_minimum",
    "excluded_tag",
    "excluded_code",
    "no_points",
)
ZERO = Decimal(0)


@dataclass(frozen=True)
class EarningRules:
    """The ``[earning]`` settings as the rules take them (tags and codes compared lower-cased)."""

    points_per_unit: Decimal = Decimal(1)
    min_subtotal: Decimal = ZERO
    tier_multipliers: Mapping[str, Decimal] = field(default_factory=dict)
    first_order_bonus: int = 0
    excluded_tags: frozenset[str] = frozenset()
    excluded_codes: frozenset[str] = frozenset()
    pending_days: int = 14

    @classmethod
    def of(
        cls,
        *,
        points_per_unit: Decimal = Decimal(1),
        min_subtotal: Decimal = ZERO,
        tier_multipliers: Mapping[str, Decimal] | None = None,
        first_order_bonus: int = 0,
        excluded_tags: Iterable[str] = (),
        excluded_codes: Iterable[str] = (),
        pending_days: int = 14,
    ) -> EarningRules:
        """Rules with tags, codes and tier names normalised for comparison."""
        return cls(
            points_per_unit=points_per_unit,
            min_subtotal=min_subtotal,
            tier_multipliers={
                name.strip().lower(): value for name, value in (tier_multipliers or {}).items()
            },
            first_order_bonus=first_order_bonus,
            excluded_tags=frozenset(t.strip().lower() for t in excluded_tags if t.strip()),
            excluded_codes=frozenset(c.strip().lower() for c in excluded_codes if c.strip()),
            pending_days=pending_days,
        )

    def multiplier(self, tier: str | None) -> Decimal:
        """The tier's multiplier (1 without a tier or without a configured one)."""
        if tier is None:
            return Decimal(1)
        return self.tier_multipliers.get(tier.strip().lower(), Decimal(1))


@dataclass(frozen=True)
class Order:
    """The order fields earning needs, as read from an export row or a webhook."""

    name: str
    email: str
    financial_status: str
    subtotal: Decimal
    currency: str
    created_at: dt.datetime
    refunded: Decimal = ZERO
    cancelled_at: dt.datetime | None = None
    tags: tuple[str, ...] = ()
    discount_codes: tuple[str, ...] = ()
    # Shopify's order id when the source gives it (webhooks, the export's "Id").
    shopify_id: str | None = None

    @property
    def earns(self) -> bool:
        """Paid (or partly refunded) and not cancelled."""
        return self.financial_status in EARNING_STATUSES and self.cancelled_at is None


@dataclass(frozen=True)
class Award:
    """What an order earns: ``base`` (subtotal × rate × multiplier) and ``bonus``.

    ``taken`` is what refunds made before the order was first seen take off at once;
    ``points`` is what it earns now.
    """

    base: int
    bonus: int
    taken: int
    available_from: dt.datetime

    @property
    def points(self) -> int:
        return self.base + self.bonus - self.taken


@dataclass(frozen=True)
class Skip:
    """Why an order earns nothing (``reason`` one of ``SKIP_REASONS``), in words too."""

    reason: SkipReason
    detail: str


def base_points(subtotal: Decimal, rules: EarningRules, tier: str | None = None) -> int:
    """``subtotal`` × ``points_per_unit`` × the tier's multiplier, rounded down."""
    if subtotal <= 0:
        return 0
    raw = subtotal * rules.points_per_unit * rules.multiplier(tier)
    return int(raw.to_integral_value(rounding=ROUND_FLOOR))


def available_from(created_at: dt.datetime, pending_days: int) -> dt.datetime:
    """When an order's points become spendable: ``pending_days`` after it was placed."""
    return created_at + dt.timedelta(days=pending_days)


def evaluate_order(
    order: Order, rules: EarningRules, *, tier: str | None, first_order: bool
) -> Award | Skip:
    """The points ``order`` earns for a member in ``tier``, or why it earns none."""
    if order.cancelled_at is not None:
        return Skip("cancelled", "the order was cancelled")
    if order.financial_status not in EARNING_STATUSES:
        shown = order.financial_status or "blank"
        return Skip("not_paid", f"financial status {shown!r} does not earn (paid ones do)")
    if order.subtotal < rules.min_subtotal:
        return Skip(
            "below_minimum", f"subtotal {order.subtotal} is below the minimum {rules.min_subtotal}"
        )
    tags = {t.strip().lower() for t in order.tags}
    excluded = sorted(tags & rules.excluded_tags)
    if excluded:
        return Skip("excluded_tag", f"tagged {excluded[0]!r}, which does not earn")
    codes = {c.strip().lower() for c in order.discount_codes}
    excluded = sorted(codes & rules.excluded_codes)
    if excluded:
        return Skip("excluded_code", f"discount code {excluded[0]!r} does not earn")
    base = base_points(order.subtotal, rules, tier)
    bonus = rules.first_order_bonus if first_order and base > 0 else 0
    # Refunds already made before the order is first seen count from the start.
    kept = points_kept(
        base, bonus, subtotal=order.subtotal, refunded=order.refunded, cancelled=False
    )
    if kept <= 0:
        return Skip("no_points", f"subtotal {order.subtotal} earns no whole point")
    return Award(
        base, bonus, base + bonus - kept, available_from(order.created_at, rules.pending_days)
    )


def points_kept(
    base: int, bonus: int, *, subtotal: Decimal, refunded: Decimal, cancelled: bool
) -> int:
    """Of an order's ``base`` and ``bonus`` points, how many it keeps after refunds.

    The base is kept in proportion to the subtotal not refunded, rounded down;
    the bonus while anything is kept. Cancelled or fully refunded: nothing.
    ``refunded`` above the subtotal (Shopify's refunded amount can include
    shipping and tax) counts as a full refund.
    """
    if cancelled or subtotal <= 0 or refunded >= subtotal:
        return 0
    if refunded <= 0:
        return base + bonus
    share = (subtotal - refunded) / subtotal
    kept_base = int((Decimal(base) * share).to_integral_value(rounding=ROUND_FLOOR))
    return kept_base + (bonus if kept_base > 0 else 0)


def fully_reversed(order: Order) -> bool:
    """True when the order now keeps nothing: cancelled, refunded or voided."""
    return order.cancelled_at is not None or order.financial_status in FULLY_REVERSED_STATUSES


def take_back_due(
    *,
    earned_base: int,
    earned_bonus: int,
    already_taken: int,
    subtotal: Decimal,
    refunded: Decimal,
    cancelled: bool,
) -> int:
    """How many more points to take back now (0 or more, never past what was earned).

    ``earned_base`` and ``earned_bonus`` are what the order was awarded;
    ``already_taken`` what earlier refunds took back. Seeing the same refund
    twice takes nothing the second time.
    """
    kept = points_kept(
        earned_base, earned_bonus, subtotal=subtotal, refunded=refunded, cancelled=cancelled
    )
    earned = earned_base + earned_bonus
    return max(0, min(earned, earned - kept) - already_taken)


def earn_key(order_name: str) -> str:
    """The idempotency key of an order's credit: each order earns once, whatever the source."""
    return f"order:{order_name}:earn"


def take_back_key(order_name: str, taken_total: int) -> str:
    """The key of a take-back that brings the order's taken-back total to ``taken_total``."""
    return f"order:{order_name}:taken:{taken_total}"


@dataclass(frozen=True)
class Balance:
    """A member's points at an instant: ``available`` to spend and ``pending`` release."""

    available: int
    pending: int

    @property
    def total(self) -> int:
        return self.available + self.pending
