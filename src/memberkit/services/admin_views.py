"""What the web admin's pages read: member search, a member's lots and entries, dashboard figures.

Read-only queries over the store, shaped for pages and the API (each view has
``to_json``). Search is built to stay fast on a million members: every branch
is an indexed equality or prefix range (``email_key``, ``shopify_id``,
``lower(first_name)``, ``lower(last_name)``), a page at a time, without a count.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from memberkit.clock import utcnow
from memberkit.store.database import Database
from memberkit.store.models import Batch, Import, LedgerEntry, Lot, Member, RewardsRun, Tier

PAGE_SIZE = 50
# The highest code point: "abc" <= x < "abc\U0010ffff" is the prefix range of "abc".
_TOP = "\U0010ffff"


@dataclass(frozen=True)
class MemberRow:
    """One line of the members search."""

    id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    shopify_id: str | None
    tier: str | None
    points_balance: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class SearchPage:
    """One page of search results; ``has_next`` when another page follows."""

    query: str
    page: int
    rows: list[MemberRow]
    has_next: bool

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "query": self.query,
            "page": self.page,
            "has_next": self.has_next,
            "members": [r.to_json() for r in self.rows],
        }


def _prefix(column: Any, text: str) -> ColumnElement[bool]:
    return and_(column >= text, column < text + _TOP)


def _conditions(query: str) -> ColumnElement[bool] | None:
    q = query.strip()
    if not q:
        return None
    low = q.lower()
    if q.isdigit():
        if len(q) < 18:
            return or_(Member.shopify_id == q, Member.id == int(q))
        return Member.shopify_id == q
    if "@" in q:
        return _prefix(Member.email_key, low)
    words = low.split()
    if len(words) >= 2:
        # The last-name index finds the rows (surnames are the rarer half: 477 against
        # 54,369 "oliver"s at 1,000,000 members); "|| ''" keeps the planner, which
        # has no statistics on SQLite, from walking the first-name index instead.
        return and_(
            _prefix(func.lower(Member.first_name) + "", words[0]),
            _prefix(func.lower(Member.last_name), " ".join(words[1:])),
        )
    return or_(
        _prefix(Member.email_key, low),
        _prefix(func.lower(Member.first_name), low),
        _prefix(func.lower(Member.last_name), low),
    )


def search_members(db: Database, *, query: str, page: int = 1) -> SearchPage:
    """Members whose email, first or last name starts with ``query``, or whose id it is."""
    page = max(page, 1)
    condition = _conditions(query)
    with db.read() as session:
        stmt = (
            select(
                Member.id,
                Member.email,
                Member.first_name,
                Member.last_name,
                Member.shopify_id,
                Member.tier_id,
                Member.points_balance,
            )
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
        # Without a query the primary key gives the order; with one, "id + 0": ordered
        # by the bare primary key, SQLite (no statistics, only bound parameters) walks
        # every member in id order and filters (0.4 s at 1,000,000 members); ordered by
        # an expression it uses the email / name indexes and sorts the matches.
        if condition is None:
            stmt = stmt.order_by(Member.id)
        else:
            stmt = stmt.where(condition).order_by(Member.id + 0)
        found = session.execute(stmt).all()
        tiers = _tier_names(session)
        rows = [
            MemberRow(r[0], r[1], r[2], r[3], r[4], tiers.get(r[5]) if r[5] else None, r[6])
            for r in found[:PAGE_SIZE]
        ]
        return SearchPage(query.strip(), page, rows, len(found) > PAGE_SIZE)


def _tier_names(session: Session) -> dict[int, str]:
    return {int(k): str(v) for k, v in session.execute(select(Tier.id, Tier.name)).all()}


@dataclass(frozen=True)
class LotRow:
    """An open lot: points left and when they expire."""

    entry_id: int
    points: int
    remaining: int
    expires_on: dt.date | None


def open_lots(db: Database, member_id: int) -> list[LotRow]:
    """A member's lots with points remaining, soonest expiry first."""
    with db.read() as session:
        rows = session.scalars(
            select(Lot).where(Lot.member_id == member_id, Lot.remaining > 0).order_by(Lot.entry_id)
        ).all()
        lots = [LotRow(r.entry_id, r.points, r.remaining, r.expires_on) for r in rows]
    return sorted(lots, key=lambda lot: (lot.expires_on is None, lot.expires_on, lot.entry_id))


def entry_actors(db: Database, member_id: int) -> dict[int, str]:
    """Who made each of a member's ledger entries (entry id -> actor)."""
    with db.read() as session:
        return {
            int(i): str(a)
            for i, a in session.execute(
                select(LedgerEntry.id, LedgerEntry.actor).where(LedgerEntry.member_id == member_id)
            ).all()
        }


@dataclass(frozen=True)
class DayTotals:
    """Points added, deducted and expired on one day (deducted and expired as positives)."""

    day: dt.date
    added: int = 0
    deducted: int = 0
    expired: int = 0


@dataclass(frozen=True)
class Dashboard:
    """The dashboard's figures."""

    members: int
    points_outstanding: int
    expiring_30_days: int
    imports_in_progress: int
    last_run: dict[str, Any] | None
    days: list[DayTotals] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "members": self.members,
            "points_outstanding": self.points_outstanding,
            "expiring_30_days": self.expiring_30_days,
            "imports_in_progress": self.imports_in_progress,
            "last_run": self.last_run,
            "days": [
                {
                    "day": d.day.isoformat(),
                    "added": d.added,
                    "deducted": d.deducted,
                    "expired": d.expired,
                }
                for d in self.days
            ],
        }


def dashboard(db: Database, *, days: int = 90, now: dt.datetime | None = None) -> Dashboard:
    """Members, points outstanding and expiring, imports running, the last run, points per day."""
    moment = now or utcnow()
    start_day = moment.date() - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(start_day, dt.time(), tzinfo=dt.UTC)
    with db.read() as session:
        members = int(session.scalar(select(func.count()).select_from(Member)) or 0)
        outstanding = int(
            session.scalar(select(func.coalesce(func.sum(Member.points_balance), 0))) or 0
        )
        expiring = int(
            session.scalar(
                select(func.coalesce(func.sum(Lot.remaining), 0)).where(
                    Lot.remaining > 0,
                    Lot.expires_at.is_not(None),
                    Lot.expires_at > moment,
                    Lot.expires_at <= moment + dt.timedelta(days=30),
                )
            )
            or 0
        )
        running = int(
            session.scalar(
                select(func.count()).select_from(Import).where(Import.status == "running")
            )
            or 0
        )
        run = session.scalars(select(RewardsRun).order_by(RewardsRun.id.desc()).limit(1)).first()
        last_run = (
            {
                "id": run.id,
                "run_date": run.run_date.isoformat(),
                "finished_at": run.finished_at.isoformat(),
                "counts": json.loads(run.counts or "{}"),
                "output_files": json.loads(run.output_files or "[]"),
                "members_changed": run.members_changed,
            }
            if run is not None
            else None
        )
        day = func.date(LedgerEntry.effective_at)
        # A literal 0, not a bound parameter: PostgreSQL compares the GROUP BY
        # expression with the selected one, and two binds ($1, $2) differ.
        positive_entry = LedgerEntry.points > literal_column("0")
        totals: dict[dt.date, dict[str, int]] = {}
        for when, kind, positive, points in session.execute(
            select(day, LedgerEntry.kind, positive_entry, func.sum(LedgerEntry.points))
            .where(LedgerEntry.effective_at >= start)
            .group_by(day, LedgerEntry.kind, positive_entry)
        ).all():
            date = when if isinstance(when, dt.date) else dt.date.fromisoformat(str(when)[:10])
            slot = totals.setdefault(date, {"added": 0, "deducted": 0, "expired": 0})
            amount = int(points or 0)
            if kind == "expiry":
                slot["expired"] += -amount
            elif positive:
                slot["added"] += amount
            else:
                slot["deducted"] += -amount
    series = [
        DayTotals(d, **totals.get(d, {}))
        for d in (start_day + dt.timedelta(days=i) for i in range(days))
    ]
    return Dashboard(members, outstanding, expiring, running, last_run, series)


def batch_position(db: Database, batch_id: int | None) -> int:
    """How many rows a batch (an import's) has committed so far: its live progress."""
    if batch_id is None:
        return 0
    with db.read() as session:
        return int(session.scalar(select(Batch.position).where(Batch.id == batch_id)) or 0)
