"""The delivery queue in the database: which events each sink still owes, claimed safely.

``outbox`` holds the events (written with the changes); ``outbox_deliveries``
holds one row per event and sink, ``pending`` until it is ``delivered`` or
``dead``. The steps, each one short transaction:

* ``enqueue(db, sink, types)`` queues the events written since the sink's
  cursor (``outbox_sinks.enqueued_through``). An id is only safe to pass once
  every smaller id has committed: on PostgreSQL ids come from a sequence and
  transactions commit in any order, so the cursor row is locked (one enqueuer
  per sink) and ``outbox`` is locked in SHARE mode, which waits for the
  transactions inserting events to finish (at most ``lock_timeout``, then this
  round is skipped) and so sees every id up to the maximum. On SQLite writers
  are serialised (``BEGIN IMMEDIATE``), so the maximum is safe at once.
* ``claim(session, sink, ...)`` takes up to ``limit`` due deliveries, oldest
  first, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (several deliverers on several
  machines share the work; a crashed one's locks vanish with its connection).
  Per-member order: a delivery is kept only when every earlier pending
  delivery of its member (for this sink) is in the same claim; otherwise it is
  left for later (an earlier one is being retried or is held by another worker).
* ``record(session, sink, outcomes)`` writes each outcome: delivered, retry at
  ``now + retry_delay * 2^(attempts-1)`` (at most an hour), or dead after
  ``max_attempts`` (or at once for a refusal that retrying cannot fix).

``status``, ``dead_deliveries`` and ``requeue`` serve ``memberkit events status``,
``list --dead`` and ``retry``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, and_, func, insert, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from memberkit.clock import utcnow
from memberkit.store.database import Database
from memberkit.store.models import OutboxDelivery, OutboxEvent, OutboxSink

#: Events queued per enqueue transaction (keeps the SHARE lock on outbox short).
ENQUEUE_CHUNK = 100_000
#: How long an enqueue waits for transactions that are writing events (PostgreSQL).
ENQUEUE_LOCK_TIMEOUT = "5s"
MAX_RETRY_DELAY = dt.timedelta(hours=1)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True)
class QueuedEvent:
    """A claimed delivery: the event as the sinks see it."""

    id: int
    event_type: str
    member_id: int | None
    created_at: dt.datetime
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What a sink did with one event.

    ``delivered``: done. Otherwise ``error`` says why; ``permanent`` failures
    (the sink refused the event itself) are dead at once, the others retried.
    ``attempted = False``: not tried this time (an earlier event of the same
    member failed first): left pending without counting an attempt.
    """

    delivered: bool
    error: str | None = None
    permanent: bool = False
    attempted: bool = True

    @classmethod
    def ok(cls, note: str | None = None) -> Outcome:
        return cls(True, note)

    @classmethod
    def failed(cls, error: str, *, permanent: bool = False) -> Outcome:
        return cls(False, error, permanent)

    @classmethod
    def not_attempted(cls) -> Outcome:
        return cls(False, None, attempted=False)


def enqueue(
    db: Database,
    sink: str,
    event_types: Sequence[str],
    *,
    now: dt.datetime | None = None,
    chunk: int = ENQUEUE_CHUNK,
) -> int:
    """Queue the sink's new events (of ``event_types``); how many rows were queued."""
    queued = 0
    while True:
        added, more = _enqueue_chunk(db, sink, event_types, now or utcnow(), chunk)
        queued += added
        if not more:
            return queued


def _enqueue_chunk(
    db: Database, sink: str, event_types: Sequence[str], now: dt.datetime, chunk: int
) -> tuple[int, bool]:
    with db.write() as session:
        if session.get(OutboxSink, sink) is None:
            dialect_insert = pg_insert if db.is_postgresql else sqlite_insert
            session.execute(
                dialect_insert(OutboxSink)
                .values(sink=sink, enqueued_through=0, updated_at=now)
                .on_conflict_do_nothing()
            )
        cursor_row = session.execute(
            select(OutboxSink).where(OutboxSink.sink == sink).with_for_update()
        ).scalar_one()
        if db.is_postgresql:
            try:
                session.execute(text(f"SET LOCAL lock_timeout = '{ENQUEUE_LOCK_TIMEOUT}'"))
                session.execute(text("LOCK TABLE outbox IN SHARE MODE"))
            except OperationalError:
                # A long transaction is still writing events: queue them next round.
                session.rollback()
                return 0, False
        cursor = cursor_row.enqueued_through
        newest = session.scalar(select(func.max(OutboxEvent.id))) or 0
        if newest <= cursor:
            return 0, False
        upto = min(newest, cursor + chunk)
        source = select(
            OutboxEvent.id,
            literal(sink, String(40)),
            literal(PENDING, String(20)),
            literal(0, Integer()),
            OutboxEvent.member_id,
        ).where(
            OutboxEvent.id > cursor,
            OutboxEvent.id <= upto,
            OutboxEvent.event_type.in_(list(event_types)),
        )
        session.execute(
            insert(OutboxDelivery).from_select(
                ["event_id", "sink", "state", "attempts", "member_id"], source
            )
        )
        cursor_row.enqueued_through = upto
        cursor_row.updated_at = now
        # (rowcount of INSERT ... SELECT is not reported on every driver)
        added = session.scalar(
            select(func.count())
            .select_from(OutboxDelivery)
            .where(
                OutboxDelivery.sink == sink,
                OutboxDelivery.event_id > cursor,
                OutboxDelivery.event_id <= upto,
            )
        )
        return int(added or 0), upto < newest


def claim(
    session: Session,
    db: Database,
    sink: str,
    *,
    limit: int,
    now: dt.datetime | None = None,
    shard: tuple[int, int] | None = None,
) -> list[QueuedEvent]:
    """Take up to ``limit`` due deliveries of ``sink``, in per-member order (see the module doc).

    ``shard = (k, n)``: only members whose id is ``k`` modulo ``n`` (events without
    a member go to shard 0). Threads of the one SQLite deliverer split the work so,
    with no row locks to keep them apart, each member's events stay with one thread.
    """
    now = now or utcnow()
    query = (
        select(OutboxDelivery.event_id, OutboxDelivery.member_id, OutboxDelivery.attempts)
        .where(
            OutboxDelivery.sink == sink,
            OutboxDelivery.state == PENDING,
            or_(OutboxDelivery.next_attempt_at.is_(None), OutboxDelivery.next_attempt_at <= now),
        )
        .order_by(OutboxDelivery.event_id)
        .limit(limit)
    )
    if shard is not None and shard[1] > 1:
        k, n = shard
        member_shard = OutboxDelivery.member_id % n == k
        query = query.where(
            or_(member_shard, OutboxDelivery.member_id.is_(None)) if k == 0 else member_shard
        )
    if db.is_postgresql:
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    if not rows:
        return []
    kept = _in_member_order(session, sink, [(r[0], r[1]) for r in rows])
    attempts = {r[0]: r[2] for r in rows}
    events = session.execute(
        select(
            OutboxEvent.id,
            OutboxEvent.event_type,
            OutboxEvent.member_id,
            OutboxEvent.created_at,
            OutboxEvent.payload,
        )
        .where(OutboxEvent.id.in_(kept))
        .order_by(OutboxEvent.id)
    ).all()
    return [
        QueuedEvent(e[0], e[1], e[2], e[3], dict(json.loads(e[4])), attempts[e[0]]) for e in events
    ]


def _in_member_order(
    session: Session, sink: str, claimed: list[tuple[int, int | None]]
) -> list[int]:
    """The claimed event ids whose member has no earlier pending event outside the claim."""
    mine = {event_id for event_id, _ in claimed}
    last: dict[int, int] = {}
    for event_id, member_id in claimed:
        if member_id is not None:
            last[member_id] = max(last.get(member_id, 0), event_id)
    blocked_from: dict[int, int] = {}
    members = list(last)
    for start in range(0, len(members), 5000):
        part = members[start : start + 5000]
        upto = max(last[m] for m in part)
        earlier = session.execute(
            select(OutboxDelivery.event_id, OutboxDelivery.member_id)
            .where(
                OutboxDelivery.sink == sink,
                OutboxDelivery.state == PENDING,
                OutboxDelivery.member_id.in_(part),
                OutboxDelivery.event_id <= upto,
            )
            .order_by(OutboxDelivery.event_id)
        ).all()
        for event_id, member_id in earlier:
            if event_id not in mine and member_id is not None and member_id not in blocked_from:
                # Everything of this member from here on waits for that earlier event.
                blocked_from[member_id] = event_id
    return [
        event_id
        for event_id, member_id in claimed
        if member_id is None or event_id < blocked_from.get(member_id, event_id + 1)
    ]


def retry_delay(attempts: int, delay_ms: int) -> dt.timedelta:
    """The wait after failed attempt number ``attempts`` (1-based): doubling, at most an hour."""
    seconds = delay_ms / 1000.0 * (2 ** min(attempts - 1, 30))
    return min(dt.timedelta(seconds=seconds), MAX_RETRY_DELAY)


def record(
    session: Session,
    sink: str,
    events: Sequence[QueuedEvent],
    outcomes: dict[int, Outcome],
    *,
    max_attempts: int,
    retry_delay_ms: int,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Write each claimed event's outcome; counts of delivered, retried, dead, untried."""
    now = now or utcnow()
    delivered: list[int] = []
    notes: dict[int, str] = {}
    counts = {"delivered": 0, "retried": 0, "dead": 0, "untried": 0}
    for event in events:
        outcome = outcomes.get(event.id, Outcome.not_attempted())
        if outcome.delivered:
            if outcome.error:
                notes[event.id] = outcome.error
            else:
                delivered.append(event.id)
            counts["delivered"] += 1
            continue
        if not outcome.attempted:
            counts["untried"] += 1
            continue
        attempts = event.attempts + 1
        dead = outcome.permanent or attempts >= max_attempts
        counts["dead" if dead else "retried"] += 1
        session.execute(
            update(OutboxDelivery)
            .where(OutboxDelivery.event_id == event.id, OutboxDelivery.sink == sink)
            .values(
                state=DEAD if dead else PENDING,
                attempts=attempts,
                last_error=(outcome.error or "failed")[:2000],
                next_attempt_at=None if dead else now + retry_delay(attempts, retry_delay_ms),
            )
        )
    for start in range(0, len(delivered), 5000):
        session.execute(
            update(OutboxDelivery)
            .where(
                OutboxDelivery.sink == sink,
                OutboxDelivery.event_id.in_(delivered[start : start + 5000]),
            )
            .values(
                state=DELIVERED,
                attempts=OutboxDelivery.attempts + 1,
                delivered_at=now,
                next_attempt_at=None,
                last_error=None,
            )
        )
    for event_id, note in notes.items():
        session.execute(
            update(OutboxDelivery)
            .where(OutboxDelivery.event_id == event_id, OutboxDelivery.sink == sink)
            .values(
                state=DELIVERED,
                attempts=OutboxDelivery.attempts + 1,
                delivered_at=now,
                next_attempt_at=None,
                last_error=note[:2000],
            )
        )
    return counts


@dataclass(frozen=True)
class SinkStatus:
    """One sink's queue: counts by state and the oldest undelivered event's age."""

    sink: str
    not_queued: int
    pending: int
    delivered: int
    dead: int
    oldest_pending_at: dt.datetime | None

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        age = (now - self.oldest_pending_at).total_seconds() if self.oldest_pending_at else None
        return {
            "sink": self.sink,
            "pending": self.pending + self.not_queued,
            "queued": self.pending,
            "delivered": self.delivered,
            "dead": self.dead,
            "oldest_pending_at": self.oldest_pending_at.isoformat()
            if self.oldest_pending_at
            else None,
            "oldest_pending_age_seconds": None if age is None else round(age, 1),
        }


def status(db: Database, sinks: Mapping[str, Sequence[str]]) -> list[SinkStatus]:
    """The queue of each sink (``sink -> event types it takes``), events not yet queued included."""
    out = []
    with db.read() as session:
        for sink, types in sinks.items():
            counts = dict(
                session.execute(
                    select(OutboxDelivery.state, func.count())
                    .where(OutboxDelivery.sink == sink)
                    .group_by(OutboxDelivery.state)
                ).all()
            )
            cursor = session.scalar(
                select(OutboxSink.enqueued_through).where(OutboxSink.sink == sink)
            )
            cursor = int(cursor or 0)
            not_queued = int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxEvent)
                    .where(OutboxEvent.id > cursor, OutboxEvent.event_type.in_(list(types)))
                )
                or 0
            )
            oldest_queued = session.scalar(
                select(func.min(OutboxEvent.created_at))
                .select_from(OutboxDelivery)
                .join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
                .where(OutboxDelivery.sink == sink, OutboxDelivery.state == PENDING)
            )
            oldest_new = session.scalar(
                select(func.min(OutboxEvent.created_at)).where(
                    OutboxEvent.id > cursor, OutboxEvent.event_type.in_(list(types))
                )
            )
            candidates = [t for t in (oldest_queued, oldest_new) if t is not None]
            out.append(
                SinkStatus(
                    sink=sink,
                    not_queued=not_queued,
                    pending=int(counts.get(PENDING, 0)),
                    delivered=int(counts.get(DELIVERED, 0)),
                    dead=int(counts.get(DEAD, 0)),
                    oldest_pending_at=min(candidates) if candidates else None,
                )
            )
    return out


@dataclass(frozen=True)
class DeadDelivery:
    """An event a sink gave up on, with the last error."""

    event_id: int
    sink: str
    event_type: str
    member_id: int | None
    created_at: dt.datetime
    attempts: int
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["created_at"] = self.created_at.isoformat()
        return data


def dead_deliveries(db: Database, *, limit: int = 50) -> list[DeadDelivery]:
    """The latest ``limit`` dead deliveries, newest event first."""
    with db.read() as session:
        rows = session.execute(
            select(
                OutboxDelivery.event_id,
                OutboxDelivery.sink,
                OutboxEvent.event_type,
                OutboxEvent.member_id,
                OutboxEvent.created_at,
                OutboxDelivery.attempts,
                OutboxDelivery.last_error,
            )
            .join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
            .where(OutboxDelivery.state == DEAD)
            .order_by(OutboxDelivery.event_id.desc())
            .limit(limit)
        ).all()
    return [DeadDelivery(*row) for row in rows]


def requeue(db: Database, *, event_id: int | None = None, all_dead: bool = False) -> int:
    """Make dead deliveries pending again (one event's, or every dead one); how many."""
    if (event_id is None) == (not all_dead):
        raise ValueError("requeue one event_id or all_dead, not both")
    condition = OutboxDelivery.state == DEAD
    if event_id is not None:
        condition = and_(condition, OutboxDelivery.event_id == event_id)
    with db.write() as session:
        result = session.execute(
            update(OutboxDelivery)
            .where(condition)
            .values(state=PENDING, attempts=0, next_attempt_at=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def event_exists(db: Database, event_id: int) -> bool:
    with db.read() as session:
        return session.get(OutboxEvent, event_id) is not None
