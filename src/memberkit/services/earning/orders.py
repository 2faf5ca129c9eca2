"""Applying orders to members: earn once per order, hold points pending, take back on refunds.

One function, ``apply_orders``, serves the orders export and the queued
webhooks, so an order earns the same points whichever arrives first, and
exactly once (the ``order_earnings`` row per order name is the guard, and the
ledger credit's idempotency key ``order:NAME:earn`` a second one).

For each order, inside the caller's unit of work:

* **seen before**: a later refund or cancellation takes back what
  ``domain.earning.take_back_due`` says. While the points are still pending
  that only lowers what the release will credit; once released it is a ledger
  debit (source ``order``, key ``order:NAME:taken:TOTAL``), which may leave the
  member owing points (debt) if they were spent meanwhile. Otherwise the order
  counts as "already earned" and nothing changes.
* **new**: its member (by email), currency, and the rules decide: skipped (and
  why), rejected (unknown member, other currency) or earned. Earned points are
  pending until ``available_from``; when that is already past (an old order, or
  ``pending_days = 0``) they are released at once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Table, select

from memberkit.domain.earning import (
    Award,
    EarningRules,
    Order,
    evaluate_order,
    fully_reversed,
    take_back_due,
    take_back_key,
)
from memberkit.domain.members import email_key
from memberkit.services.earning.release import credit_rows
from memberkit.store.bulk import among, chunked, insert_rows, update_rows
from memberkit.store.ledger_book import NewEntry
from memberkit.store.models import Member, OrderEarning, Tier
from memberkit.store.unit_of_work import UnitOfWork

Origin = Literal["export", "webhook"]


@dataclass
class EarningSummary:
    """What applying orders did, counted per order."""

    orders: int = 0
    earned: int = 0
    points_earned: int = 0
    released: int = 0
    points_released: int = 0
    reversed: int = 0
    points_taken: int = 0
    already_earned: int = 0
    rejected: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``skipped`` by reason)."""
        data = dict(self.__dict__)
        data["skipped"] = dict(sorted(self.skipped.items()))
        data["skipped_total"] = sum(self.skipped.values())
        return data


@dataclass(frozen=True)
class OrderRejection:
    """An order that could not be applied, and why (for the rejects file)."""

    position: int
    reason: str


@dataclass
class _Known:
    """Per-order state loaded for a chunk (or created earlier in this run)."""

    row: dict[str, Any]
    new: bool = False
    changed: bool = False


def apply_orders(
    work: UnitOfWork,
    orders: Sequence[Order],
    *,
    rules: EarningRules,
    currency: str,
    origin: Origin,
    summary: EarningSummary,
    dry_run: bool = False,
) -> list[OrderRejection]:
    """Apply ``orders`` in ``work``'s transaction; count into ``summary``; return rejections.

    With ``dry_run`` everything is decided and counted but nothing is written.
    """
    session = work.session
    pg = work.db.is_postgresql
    rejections: list[OrderRejection] = []
    emails = sorted({email_key(o.email) for o in orders if o.email})
    members: dict[str, tuple[int, str | None]] = {}
    for part in chunked(emails):
        query = (
            select(Member.id, Member.email_key, Tier.name)
            .outerjoin(Tier, Member.tier_id == Tier.id)
            .where(among(Member.email_key, part, postgresql=pg))
        )
        for member_id, key, tier in session.execute(query):
            if key is not None:
                members[str(key)] = (int(member_id), tier)
    names = sorted({o.name for o in orders})
    known: dict[str, _Known] = {}
    for part in chunked(names):
        query = select(OrderEarning.__table__).where(
            among(OrderEarning.order_name, part, postgresql=pg)
        )
        for stored in session.execute(query).mappings():
            known[stored["order_name"]] = _Known(dict(stored))
    member_ids = sorted({m for m, _ in members.values()})
    has_orders: set[int] = set()
    for part in chunked(member_ids):
        has_orders.update(
            int(m)
            for m in session.scalars(
                select(OrderEarning.member_id)
                .where(among(OrderEarning.member_id, part, postgresql=pg))
                .distinct()
            )
        )

    take_backs: list[tuple[_Known, int]] = []
    for position, order in enumerate(orders):
        summary.orders += 1
        seen = known.get(order.name)
        if seen is not None:
            # A known order is matched by its name alone: its member and currency were
            # checked when it earned (the customer may have changed email since).
            due = _take_back(seen.row, order)
            if due > 0:
                take_backs.append((seen, due))
                summary.reversed += 1
                summary.points_taken += due
            elif not seen.new:
                summary.already_earned += 1
            if order.shopify_id and not seen.row.get("shopify_order_id"):
                seen.row["shopify_order_id"] = order.shopify_id
                seen.changed = True
            continue
        if order.currency and order.currency != currency.upper():
            summary.rejected += 1
            rejections.append(
                OrderRejection(
                    position,
                    f"Currency: {order.currency} is not the store's currency {currency.upper()} "
                    "(shopify.currency); points are earned in the store's currency only",
                )
            )
            continue
        member = members.get(email_key(order.email))
        if member is None:
            summary.rejected += 1
            rejections.append(
                OrderRejection(
                    position,
                    f"Email: no member with email {order.email.strip()!r}; import the "
                    "customers export (or add the member) first",
                )
            )
            continue
        member_id, tier_name = member
        verdict = evaluate_order(
            order, rules, tier=tier_name, first_order=member_id not in has_orders
        )
        if not isinstance(verdict, Award):
            summary.skipped[verdict.reason] += 1
            continue
        has_orders.add(member_id)
        summary.earned += 1
        summary.points_earned += verdict.points
        known[order.name] = _Known(_new_row(work, order, member_id, verdict, origin), new=True)

    if dry_run:
        due_now = [k for k in known.values() if k.new and k.row["available_from"] <= work.now]
        summary.released += len(due_now)
        summary.points_released += sum(_creditable(k.row) for k in due_now)
        return rejections

    _post_take_backs(work, take_backs)
    # Orders whose pending period is already over (old orders, pending_days = 0) are
    # credited now and stored as released: one write per order.
    due_rows = [k.row for k in known.values() if k.new and k.row["available_from"] <= work.now]
    if due_rows:
        summary.released += len(due_rows)
        summary.points_released += credit_rows(work, due_rows)
    work.flush()
    table = OrderEarning.__table__
    assert isinstance(table, Table)
    insert_rows(session, table, [k.row for k in known.values() if k.new])
    changed = [
        {
            "id": k.row["id"],
            "refunded": k.row["refunded"],
            "cancelled": k.row["cancelled"],
            "points_taken": k.row["points_taken"],
            "shopify_order_id": k.row.get("shopify_order_id"),
            "updated_at": work.now,
        }
        for k in known.values()
        if k.changed and not k.new
    ]
    if changed:
        update_rows(session, table, "id", changed)
    return rejections


def _new_row(
    work: UnitOfWork, order: Order, member_id: int, award: Award, origin: Origin
) -> dict[str, Any]:
    return {
        "order_name": order.name,
        "shopify_order_id": order.shopify_id,
        "member_id": member_id,
        "ordered_at": order.created_at.astimezone(dt.UTC),
        "subtotal": order.subtotal,
        "currency": (order.currency or "").upper()[:3],
        "refunded": order.refunded,
        "cancelled": False,
        "base_points": award.base,
        "bonus_points": award.bonus,
        "points_taken": award.taken,
        "state": "pending",
        "available_from": award.available_from.astimezone(dt.UTC),
        "credit_entry_id": None,
        "released_at": None,
        "origin": origin,
        "recorded_at": work.now,
        "updated_at": work.now,
        "actor": work.actor,
        "batch_id": work.batch_id,
    }


def _creditable(row: dict[str, Any]) -> int:
    return int(row["base_points"]) + int(row["bonus_points"]) - int(row["points_taken"])


def _take_back(row: dict[str, Any], order: Order) -> int:
    """Points to take back now for a known order seen again; updates ``row`` in place."""
    subtotal = Decimal(row["subtotal"])
    refunded = max(Decimal(row["refunded"]), order.refunded)
    cancelled = bool(row["cancelled"]) or order.cancelled_at is not None
    if fully_reversed(order):
        refunded = max(refunded, subtotal)
    due = take_back_due(
        earned_base=int(row["base_points"]),
        earned_bonus=int(row["bonus_points"]),
        already_taken=int(row["points_taken"]),
        subtotal=subtotal,
        refunded=refunded,
        cancelled=cancelled,
    )
    if refunded != Decimal(row["refunded"]) or cancelled != bool(row["cancelled"]):
        row["refunded"] = refunded
        row["cancelled"] = cancelled
    return due


def _post_take_backs(work: UnitOfWork, take_backs: list[tuple[_Known, int]]) -> None:
    """Lower pending points, or debit released ones (source ``order``)."""
    released = [(k, due) for k, due in take_backs if k.row["state"] == "released"]
    book = work.book
    if released:
        book.load(sorted({int(k.row["member_id"]) for k, _ in released}), all_lots=True)
        book.reserve_entry_ids(len(released))
    for known, due in take_backs:
        row = known.row
        total = int(row["points_taken"]) + due
        if row["state"] == "released":
            name = row["order_name"]
            state = book.members[int(row["member_id"])]
            meta = NewEntry(
                source="order",
                source_ref=name,
                public_note=f"{due} points taken back: order {name} refunded or cancelled",
                key=take_back_key(name, total),
            )
            # Allowed to go below zero: points already spent are owed (debt), not lost.
            book.debit(state, due, allow_negative=True, meta=meta)
        row["points_taken"] = total
        known.changed = True
