"""Releasing pending points: orders whose ``available_from`` has passed are credited.

Idempotent: a row is released once (its ``state`` moves to ``released`` in
the same transaction as the credit, whose key ``order:NAME:earn`` is unique
too), so running the release twice, or from two places, credits nothing more.
The credit takes effect at ``available_from`` (so an as-of balance shows the
points available from that instant); orders whose points were all taken back
before the release are marked released without a credit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, select

from memberkit.domain.earning import earn_key
from memberkit.store.bulk import among, chunked, update_rows
from memberkit.store.database import Database
from memberkit.store.ledger_book import NewEntry
from memberkit.store.models import OrderEarning
from memberkit.store.unit_of_work import UnitOfWork, unit_of_work

RELEASE_ACTOR = "system:earning"
"""The actor of releases run by the schedule: releasing is the rule, not a person's act."""


@dataclass(frozen=True)
class ReleaseResult:
    """What a release run did."""

    orders: int
    points: int


def credit_rows(work: UnitOfWork, rows: Sequence[dict[str, Any]]) -> int:
    """Post the credits of ``rows`` (due ``order_earnings`` rows as dicts); mark them released.

    The rows are changed in place (``state``, ``credit_entry_id``, ``released_at``);
    the caller writes them after the book is flushed, so each names its credit entry.
    Returns the points credited.
    """
    book = work.book
    creditable = [r for r in rows if _points(r) > 0]
    book.load(sorted({int(r["member_id"]) for r in creditable}), all_lots=False)
    book.reserve_entry_ids(len(creditable))
    points = 0
    for row in rows:
        amount = _points(row)
        entry_id = None
        if amount > 0:
            name = row["order_name"]
            meta = NewEntry(
                source="order",
                source_ref=name,
                public_note=f"{amount} points for order {name}",
                key=earn_key(name),
                effective_at=min(row["available_from"], work.now),
            )
            state = book.members[int(row["member_id"])]
            entry_id = int(book.credit(state, amount, expires_on=None, meta=meta)["id"])
            points += amount
        row["state"] = "released"
        row["credit_entry_id"] = entry_id
        row["released_at"] = work.now
    return points


def release_rows(work: UnitOfWork, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Credit stored ``rows`` and mark them released in the database; (orders, points)."""
    points = credit_rows(work, rows)
    work.flush()
    table = OrderEarning.__table__
    assert isinstance(table, Table)
    changes = [
        {
            "id": row["id"],
            "state": "released",
            "credit_entry_id": row["credit_entry_id"],
            "released_at": work.now,
            "updated_at": work.now,
        }
        for row in rows
    ]
    update_rows(work.session, table, "id", changes)
    return len(rows), points


def _points(row: dict[str, Any]) -> int:
    return int(row["base_points"]) + int(row["bonus_points"]) - int(row["points_taken"])


def release_due(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    actor: str = RELEASE_ACTOR,
    zone: ZoneInfo | None = None,
    now: dt.datetime | None = None,
    chunk_size: int = 5000,
) -> ReleaseResult:
    """Release every pending order whose ``available_from`` is at or before now.

    Called alone, each chunk commits on its own; running it again (or while
    another release runs) releases nothing twice.
    """
    orders = points = 0
    with unit_of_work(uow, db, actor=actor, zone=zone, now=now) as work:
        # The due ids once, then chunk by id: each chunk is found by primary key
        # instead of scanning (and sorting) every due row again.
        due = list(
            work.session.scalars(
                select(OrderEarning.id)
                .where(OrderEarning.state == "pending", OrderEarning.available_from <= work.now)
                .order_by(OrderEarning.id)
            )
        )
        pg = work.db.is_postgresql
        for part in chunked(due, chunk_size):
            query = select(OrderEarning.__table__).where(
                among(OrderEarning.id, part, postgresql=pg), OrderEarning.state == "pending"
            )
            if pg:
                # Another release may hold some of them: it releases those.
                query = query.with_for_update(skip_locked=True)
            rows = [dict(r) for r in work.session.execute(query).mappings()]
            if rows:
                done, credited = release_rows(work, rows)
                orders += done
                points += credited
            if uow is None:
                work.commit()
    return ReleaseResult(orders, points)
