"""Points: add, deduct, set, reverse, expire, balance (now or as of a time), history.

Every posting runs in a unit of work (``store.unit_of_work``): the caller's
(``uow=``), so it commits with whatever else the caller does, or its own
(``db=`` and ``actor=``) when called alone. Postings lock the member first
(``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL),
write any expiries that have fallen due, then apply the rules of
``memberkit.domain.ledger`` through the unit's ``LedgerBook``, which also
writes each entry's outbox event.

Many postings at once: ``services.ledger.bulk.post_bulk``.

Idempotency: a posting with a ``key`` that was used before returns the stored
entry (``replayed=True``) when the content matches, and raises
``IdempotencyConflictError`` naming the key when it does not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from memberkit.clock import utcnow
from memberkit.domain.ledger import (
    EntryContent,
    ReversalError,
    check_replay,
    check_reversible,
    check_source,
    records_unchanged_set,
    reversal_content,
    set_balance_difference,
    to_utc,
)
from memberkit.errors import InvalidValueError, NotFoundError
from memberkit.services.ledger.members import MemberRef, find_member
from memberkit.store.bulk import chunked
from memberkit.store.database import Database
from memberkit.store.ledger_book import (
    LedgerBook,
    MemberState,
    NewEntry,
    content_of,
    find_keys,
)
from memberkit.store.models import AllocationRow, LedgerEntry, Lot, Member
from memberkit.store.unit_of_work import UnitOfWork, unit_of_work

T = TypeVar("T")


@dataclass(frozen=True)
class EntryView:
    """A ledger entry as callers see it; ``allocations`` are (lot id, points) it used."""

    id: int
    member_id: int
    kind: str
    points: int
    expires_on: dt.date | None
    source: str
    source_ref: str | None
    public_note: str | None
    internal_note: str | None
    idempotency_key: str | None
    set_to: int | None
    reverses_id: int | None
    effective_at: dt.datetime
    created_at: dt.datetime
    allocations: tuple[tuple[int, int], ...] = ()
    balance_after: int | None = None

    @classmethod
    def of(cls, row: LedgerEntry | dict[str, Any], **extra: Any) -> EntryView:
        """A view of a stored entry or of an entry row dict."""
        names = [f for f in cls.__dataclass_fields__ if f not in ("allocations", "balance_after")]
        if isinstance(row, dict):
            return cls(**{n: row[n] for n in names}, **extra)
        return cls(**{n: getattr(row, n) for n in names}, **extra)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601 UTC)."""
        data = dict(self.__dict__)
        data["effective_at"] = self.effective_at.isoformat()
        data["created_at"] = self.created_at.isoformat()
        data["expires_on"] = self.expires_on.isoformat() if self.expires_on else None
        data["allocations"] = [{"lot": lot, "points": pts} for lot, pts in self.allocations]
        if self.balance_after is None:
            del data["balance_after"]
        return data


@dataclass(frozen=True)
class PostingResult:
    """The outcome of one posting.

    ``entry`` is None when nothing needed posting (setting a balance to its value).
    ``replayed`` is True when the idempotency key had been used with this content.
    ``expired`` lists expiry entries written first because lots had fallen due.
    """

    member_id: int
    entry: EntryView | None
    balance: int
    replayed: bool = False
    expired: tuple[EntryView, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "member_id": self.member_id,
            "entry": self.entry.to_json() if self.entry else None,
            "balance": self.balance,
            "replayed": self.replayed,
            "expired": [e.to_json() for e in self.expired],
        }


def _lock_member(session: Session, db: Database, member_id: int) -> None:
    if db.is_postgresql:
        session.execute(select(Member.id).where(Member.id == member_id).with_for_update())


def _retrying_key_race(
    uow: UnitOfWork | None,
    db: Database | None,
    *,
    actor: str | None,
    zone: ZoneInfo | None,
    now: dt.datetime | None,
    action: Callable[[UnitOfWork], T],
) -> T:
    """Run ``action`` in a unit of work; once more if a concurrent posting took its key first.

    On PostgreSQL two postings with one key for *different* members are not
    serialised by the member lock: the second insert hits the unique index.
    Retrying finds the stored entry and replays it or reports the conflict.
    Only a unit of work of our own can be retried; a caller's fails as it is.
    """
    moment = now or utcnow()
    try:
        with unit_of_work(uow, db, actor=actor, zone=zone, now=moment) as work:
            return action(work)
    except IntegrityError as exc:
        text = str(exc.orig)
        if uow is not None or (
            "idempotency_key" not in text and "uq_ledger_entries_idempotency_key" not in text
        ):
            raise
    with unit_of_work(None, db, actor=actor, zone=zone, now=moment) as work:
        return action(work)


def _post(
    uow: UnitOfWork | None,
    db: Database | None,
    *,
    actor: str | None,
    member: MemberRef,
    zone: ZoneInfo | None,
    now: dt.datetime | None,
    key: str | None,
    content: Callable[[int], EntryContent],
    apply: Callable[[LedgerBook, MemberState], dict[str, Any] | None],
) -> PostingResult:
    def attempt(work: UnitOfWork) -> PostingResult:
        session = work.session
        found = find_member(session, member)
        member_id = found.id
        _lock_member(session, work.db, member_id)
        book = work.book
        if key is not None:
            existing = find_keys(session, [key]).get(key)
            pending = book.pending_key(key)
            if existing is not None or pending is not None:
                stored = content_of(existing if existing is not None else pending)  # type: ignore[arg-type]
                stored_id = existing.id if existing is not None else int(pending["id"])  # type: ignore[index]
                check_replay(key, stored, stored_id, content(member_id))
                view = (
                    EntryView.of(existing, allocations=_allocations_of(session, existing.id))
                    if existing is not None
                    else EntryView.of(pending, allocations=book.pending_allocations(stored_id))  # type: ignore[arg-type]
                )
                # A replay changes nothing, not even expiries that have fallen due since.
                state = book.members.get(member_id)
                balance = state.balance if state else found.points_balance
                return PostingResult(member_id, view, balance, replayed=True)
        before = len(book.pending_rows())
        book.load([member_id])
        expired = tuple(EntryView.of(row) for row in book.pending_rows()[before:])
        row = apply(book, book.members[member_id])
        balance = book.members[member_id].balance
        posted = EntryView.of(row, allocations=book.pending_allocations(row["id"])) if row else None
        return PostingResult(member_id, posted, balance, expired=expired)

    return _retrying_key_race(uow, db, actor=actor, zone=zone, now=now, action=attempt)


def _allocations_of(session: Session, entry_id: int) -> tuple[tuple[int, int], ...]:
    """(lot id, points) a stored entry used, in the order written."""
    return tuple(
        (int(lot), int(pts))
        for lot, pts in session.execute(
            select(AllocationRow.lot_id, AllocationRow.points)
            .where(AllocationRow.entry_id == entry_id)
            .order_by(AllocationRow.id)
        )
    )


def _zone(uow: UnitOfWork | None, zone: ZoneInfo | None) -> ZoneInfo:
    """The processing zone: the caller's unit of work's, else the one passed."""
    if uow is not None:
        return uow.zone
    if zone is None:
        raise TypeError("a service called without uow= needs zone= (processing.timezone)")
    return zone


def _meta(
    *,
    source: str,
    source_ref: str | None,
    public_note: str | None,
    internal_note: str | None,
    key: str | None,
    effective_at: dt.datetime | None,
    zone: ZoneInfo,
    set_to: int | None = None,
) -> NewEntry:
    return NewEntry(
        source=check_source(source),
        source_ref=source_ref,
        public_note=public_note,
        internal_note=internal_note,
        key=key,
        effective_at=to_utc(effective_at, zone) if effective_at else None,
        set_to=set_to,
    )


def add_points(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    actor: str | None = None,
    member: MemberRef,
    points: int,
    zone: ZoneInfo | None = None,
    expires_on: dt.date | None = None,
    source: str = "manual",
    source_ref: str | None = None,
    public_note: str | None = None,
    internal_note: str | None = None,
    key: str | None = None,
    effective_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> PostingResult:
    """Credit ``points`` (a lot, expiring after ``expires_on`` if given); pays debt first."""
    if points <= 0:
        raise InvalidValueError(f"points to add must be more than 0, got {points}")
    meta = _meta(
        source=source,
        source_ref=source_ref,
        public_note=public_note,
        internal_note=internal_note,
        key=key,
        effective_at=effective_at,
        zone=_zone(uow, zone),
    )
    return _post(
        uow,
        db,
        actor=actor,
        member=member,
        zone=zone,
        now=now,
        key=key,
        content=lambda mid: EntryContent(mid, "credit", points, expires_on, source, source_ref),
        apply=lambda book, state: book.credit(state, points, expires_on=expires_on, meta=meta),
    )


def deduct_points(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    actor: str | None = None,
    member: MemberRef,
    points: int,
    zone: ZoneInfo | None = None,
    allow_negative: bool = False,
    source: str = "manual",
    source_ref: str | None = None,
    public_note: str | None = None,
    internal_note: str | None = None,
    key: str | None = None,
    effective_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> PostingResult:
    """Debit ``points``, earliest-expiring lots first.

    More than the balance raises ``InsufficientPointsError`` unless
    ``allow_negative`` (for migrations), which records the shortfall as debt.
    """
    if points <= 0:
        raise InvalidValueError(f"points to deduct must be more than 0, got {points}")
    meta = _meta(
        source=source,
        source_ref=source_ref,
        public_note=public_note,
        internal_note=internal_note,
        key=key,
        effective_at=effective_at,
        zone=_zone(uow, zone),
    )
    return _post(
        uow,
        db,
        actor=actor,
        member=member,
        zone=zone,
        now=now,
        key=key,
        content=lambda mid: EntryContent(mid, "debit", -points, None, source, source_ref),
        apply=lambda book, state: book.debit(
            state, points, allow_negative=allow_negative, meta=meta
        ),
    )


def set_balance(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    actor: str | None = None,
    member: MemberRef,
    target: int,
    zone: ZoneInfo | None = None,
    expires_on: dt.date | None = None,
    allow_negative: bool = False,
    source: str = "manual",
    source_ref: str | None = None,
    public_note: str | None = None,
    internal_note: str | None = None,
    key: str | None = None,
    effective_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> PostingResult:
    """Bring the balance to ``target`` by posting the difference (never an overwrite).

    A rise is a credit (expiring after ``expires_on`` if given), a fall a debit;
    no entry is written when the balance is already ``target``. A replayed
    ``key`` matches on the target, not on the difference it posted.
    """
    if target < 0 and not allow_negative:
        raise InvalidValueError(
            f"cannot set a negative balance ({target}) without allow_negative",
            hint="negative balances are for migrations and must be allowed explicitly",
        )
    meta = _meta(
        source=source,
        source_ref=source_ref,
        public_note=public_note,
        internal_note=internal_note,
        key=key,
        effective_at=effective_at,
        zone=_zone(uow, zone),
        set_to=target,
    )

    def apply(book: LedgerBook, state: MemberState) -> dict[str, Any] | None:
        difference = set_balance_difference(state.balance, target)
        if difference > 0:
            return book.credit(state, difference, expires_on=expires_on, meta=meta)
        if difference < 0:
            return book.debit(state, -difference, allow_negative=True, meta=meta)
        if records_unchanged_set(key):
            return book.unchanged_set(state, expires_on=expires_on, meta=meta)
        return None

    return _post(
        uow,
        db,
        actor=actor,
        member=member,
        zone=zone,
        now=now,
        key=key,
        content=lambda mid: EntryContent(mid, "set", None, expires_on, source, source_ref, target),
        apply=apply,
    )


def reverse_entry(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    actor: str | None = None,
    entry_id: int,
    zone: ZoneInfo | None = None,
    public_note: str | None = None,
    internal_note: str | None = None,
    key: str | None = None,
    now: dt.datetime | None = None,
) -> PostingResult:
    """Reverse a credit (only while none of it is spent) or a debit (its lots come back).

    A debit's points taken from lots that have expired since stay expired; the
    reversal's internal note says how many. Expiries and reversals cannot be reversed,
    and an entry is reversed at most once. Replaying ``key`` returns the stored
    reversal.
    """

    def attempt(work: UnitOfWork) -> PostingResult:
        # The entry reversed may have been posted earlier in this unit of work.
        work.flush()
        session = work.session
        original = session.get(LedgerEntry, entry_id)
        if original is None:
            raise NotFoundError(
                f"no ledger entry {entry_id}",
                hint="entry ids are in memberkit points history MEMBER",
            )
        member_id = original.member_id
        _lock_member(session, work.db, member_id)
        book = work.book
        if key is not None:
            existing = find_keys(session, [key]).get(key)
            if existing is not None:
                if existing.kind == "reversal" and existing.reverses_id != entry_id:
                    raise ReversalError(
                        f"idempotency key {key!r} was already used by entry {existing.id}, "
                        f"which reverses entry {existing.reverses_id}, not {entry_id}",
                        hint="use a new key for a new reversal",
                    )
                check_replay(
                    key, content_of(existing), existing.id, reversal_content(member_id, entry_id)
                )
                state = book.members.get(member_id)
                owner = session.get(Member, member_id)
                assert owner is not None
                balance = state.balance if state else owner.points_balance
                view = EntryView.of(existing, allocations=_allocations_of(session, existing.id))
                return PostingResult(member_id, view, balance, replayed=True)
        check_reversible(
            entry_id,
            original.kind,
            reversed_by=session.scalar(
                select(LedgerEntry.id).where(LedgerEntry.reverses_id == entry_id)
            ),
            points=original.points,
        )
        before = len(book.pending_rows())
        book.load([member_id])
        expired = tuple(EntryView.of(row) for row in book.pending_rows()[before:])
        allocations = [
            (lot_id, points)
            for lot_id, points in session.execute(
                select(AllocationRow.lot_id, AllocationRow.points).where(
                    AllocationRow.entry_id == entry_id
                )
            )
        ]
        meta = NewEntry(
            source="reversal",
            source_ref=f"entry {entry_id}",
            public_note=public_note,
            internal_note=internal_note,
            key=key,
        )
        state = book.members[member_id]
        row = book.reverse(state, original, meta=meta, allocations=allocations)
        view = EntryView.of(row, allocations=book.pending_allocations(row["id"]))
        return PostingResult(member_id, view, state.balance, expired=expired)

    return _retrying_key_race(uow, db, actor=actor, zone=zone, now=now, action=attempt)


EXPIRY_ACTOR = "system:expiry"
"""The actor of every expiry entry: expiring is the ledger's rule, not a person's act."""


@dataclass(frozen=True)
class ExpiryResult:
    """What an expiry run wrote."""

    entries: int
    points: int
    members: int


def expire_points(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    zone: ZoneInfo | None = None,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    batch_size: int = 5000,
) -> ExpiryResult:
    """Write an expiry entry for every lot past its date; running it twice changes nothing.

    ``today`` (default: the date now in ``zone``) counts as already begun, so a
    lot expiring on the day before ``today`` is expired, and one expiring on
    ``today`` is not. Called alone, the run's actor is ``system:expiry``.
    """
    entries = points = 0
    with unit_of_work(uow, db, actor=EXPIRY_ACTOR, zone=zone, now=now) as work:
        moment = work.now
        cutoff = (
            dt.datetime.combine(today, dt.time(0), tzinfo=work.zone).astimezone(dt.UTC)
            if today
            else moment
        )
        session = work.session
        member_ids = list(
            session.scalars(
                select(Lot.member_id)
                .where(Lot.remaining > 0, Lot.expires_at <= cutoff)
                .distinct()
                .order_by(Lot.member_id)
            )
        )
        for part in chunked(member_ids, batch_size):
            book = work.book
            before = len(book.pending_rows())
            book.load(part, all_lots=False, expire_at=cutoff)
            rows = book.pending_rows()[before:]
            entries += len(rows)
            points -= sum(int(r["points"]) for r in rows)
            work.flush()
    return ExpiryResult(entries, points, len(member_ids))


def get_balance(
    db: Database,
    *,
    member: MemberRef,
    as_of: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> tuple[int, int]:
    """(member id, balance). With ``as_of``: the balance the ledger shows at that instant.

    A past ``as_of`` is the sum of entries effective at or before it. A future
    one (after ``now``) also takes off the points of open lots whose expiry falls
    due by then, as the expiry run will have done by that time.
    """
    moment = now or utcnow()
    with db.read() as session:
        found = find_member(session, member)
        if as_of is None:
            return found.id, found.points_balance
        total = int(
            session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
                    LedgerEntry.member_id == found.id, LedgerEntry.effective_at <= as_of
                )
            )
            or 0
        )
        if as_of > moment:
            due = session.scalar(
                select(func.coalesce(func.sum(Lot.remaining), 0)).where(
                    Lot.member_id == found.id,
                    Lot.remaining > 0,
                    Lot.expires_at.is_not(None),
                    Lot.expires_at <= as_of,
                )
            )
            total -= int(due or 0)
        return found.id, total


def history(db: Database, *, member: MemberRef) -> list[EntryView]:
    """Every entry of a member in effective order, with notes, allocations and running balance."""
    with db.read() as session:
        found = find_member(session, member)
        entries = list(
            session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.member_id == found.id)
                .order_by(LedgerEntry.effective_at, LedgerEntry.id)
            )
        )
        uses: dict[int, list[tuple[int, int]]] = {}
        for alloc in session.scalars(
            select(AllocationRow)
            .join(LedgerEntry, AllocationRow.entry_id == LedgerEntry.id)
            .where(LedgerEntry.member_id == found.id)
            .order_by(AllocationRow.id)
        ):
            uses.setdefault(alloc.entry_id, []).append((alloc.lot_id, alloc.points))
        running = 0
        out = []
        for entry in entries:
            running += entry.points
            out.append(
                EntryView.of(
                    entry, allocations=tuple(uses.get(entry.id, ())), balance_after=running
                )
            )
        return out
