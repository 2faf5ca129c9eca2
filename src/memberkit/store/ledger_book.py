"""``LedgerBook``: applies the ledger rules to members' stored state, in one transaction.

A book loads the members it will touch (locking their rows on PostgreSQL, in id
order so two books never deadlock), their open lots and unpaid debts, and
writes every due expiry first. Postings then run against that in-memory state
through the pure rules of ``memberkit.domain.ledger``, and ``flush()`` writes
the new entries, lots, debts and allocations in bulk (``COPY`` on PostgreSQL,
``executemany`` on SQLite; see ``store.bulk``), plus the changed lot, debt and
member balances.

The same code path serves one CLI posting and a million-row import, so the
two cannot disagree. Entry ids are reserved up front (the PostgreSQL
sequence; on SQLite, ``max(id)`` under the ``BEGIN IMMEDIATE`` write lock) so
allocations can name entries before they are inserted.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, Table, func, select, text, type_coerce
from sqlalchemy.orm import Session

from memberkit.domain.events import (
    MemberIdentity,
    entry_event_type,
    entry_payload_json,
    member_json,
)
from memberkit.domain.ledger import (
    DebtState,
    EntryContent,
    LedgerError,
    LotState,
    TimedLot,
    check_credit_reversal,
    check_posting_amount,
    check_replay,
    check_resulting_balance,
    due_for_expiry,
    expiry_instant,
    expiry_key,
    expiry_note,
    lot_has_expired,
    plan_debit,
    plan_debit_reversal,
    plan_settlement,
)
from memberkit.errors import NotFoundError
from memberkit.store.bulk import among, chunked, insert_rows, update_rows
from memberkit.store.database import Database
from memberkit.store.models import AllocationRow, Base, Debt, LedgerEntry, Lot, Member


@dataclass
class OpenLot:
    """A lot as the book tracks it while postings run."""

    lot_id: int
    points: int
    remaining: int
    expires_on: dt.date | None
    expires_at: dt.datetime | None


@dataclass
class MemberState:
    """One member's balance, debt, open lots and unpaid debts inside a book."""

    member_id: int
    label: str
    balance: int
    debt: int
    email: str | None = None
    shopify_id: str | None = None
    lots: dict[int, OpenLot] = field(default_factory=dict)
    debts: dict[int, int] = field(default_factory=dict)  # debit entry id -> unpaid
    changed: bool = False
    # False when only the lots due to expire were loaded (enough for credits).
    all_lots: bool = True
    # ``member`` of this member's event payloads, as JSON text (built once).
    identity_json: str | None = None
    # members.ledger_version as loaded (and as this book last wrote it).
    version: int = 0

    def lot_states(self) -> list[LotState]:
        """The open lots as the domain rules take them."""
        return [LotState(lot.lot_id, lot.remaining, lot.expires_on) for lot in self.lots.values()]

    def debt_states(self) -> list[DebtState]:
        """The unpaid debts as the domain rules take them."""
        return [DebtState(debit_id, unpaid) for debit_id, unpaid in self.debts.items() if unpaid]

    @property
    def identity(self) -> MemberIdentity:
        """Who this member is, as event payloads name them."""
        return MemberIdentity(self.member_id, self.email, self.shopify_id)


@dataclass(frozen=True)
class NewEntry:
    """What a posting asks for, besides the member and the points."""

    source: str
    source_ref: str | None = None
    public_note: str | None = None
    internal_note: str | None = None
    key: str | None = None
    effective_at: dt.datetime | None = None
    set_to: int | None = None


def content_of(row: LedgerEntry | dict[str, Any]) -> EntryContent:
    """The idempotency content of a stored entry (a model or an entry row dict)."""

    def get(name: str) -> Any:
        return row[name] if isinstance(row, dict) else getattr(row, name)

    set_to = get("set_to")
    kind = "set" if set_to is not None else get("kind")
    return EntryContent(
        member_id=get("member_id"),
        kind=kind,
        # A set is its target and a reversal its entry, not the points they posted.
        points=None if kind in ("set", "reversal") else get("points"),
        expires_on=get("expires_on"),
        source=get("source"),
        source_ref=get("source_ref"),
        set_to=set_to,
    )


__all__ = ["LedgerBook", "MemberState", "NewEntry", "OpenLot", "check_replay", "content_of"]


def find_keys(session: Session, keys: Iterable[str]) -> dict[str, LedgerEntry]:
    """Stored entries by idempotency key, for the keys that exist."""
    found: dict[str, LedgerEntry] = {}
    key_list = sorted(set(keys))
    postgresql = session.get_bind().dialect.name == "postgresql"
    for part in chunked(key_list):
        for entry in session.scalars(
            select(LedgerEntry).where(
                among(LedgerEntry.idempotency_key, part, postgresql=postgresql)
            )
        ):
            assert entry.idempotency_key is not None
            found[entry.idempotency_key] = entry
    return found


class LedgerBook:
    """Members' ledger state for one transaction; see the module docstring."""

    def __init__(
        self,
        session: Session,
        db: Database,
        *,
        zone: ZoneInfo,
        now: dt.datetime,
        actor: str,
        batch_id: int | None = None,
        outbox: list[dict[str, Any]] | None = None,
        carry: dict[int, MemberState] | None = None,
    ) -> None:
        self.session = session
        self.db = db
        self.zone = zone
        self.now = now
        self.actor = actor
        self.batch_id = batch_id
        # Outbox rows, one per entry, shared with the unit of work that owns the book.
        self.outbox: list[dict[str, Any]] = [] if outbox is None else outbox
        # Member states of an earlier book of this session whose work is
        # committed: reused by ``load`` only when the stored version still matches.
        self._carry: dict[int, MemberState] = carry or {}
        self.members: dict[int, MemberState] = {}
        self._entries: list[dict[str, Any]] = []
        self._new_lots: list[dict[str, Any]] = []
        self._new_debts: list[dict[str, Any]] = []
        self._allocations: list[dict[str, Any]] = []
        self._lot_updates: dict[int, int] = {}
        self._debt_updates: dict[int, int] = {}
        self._reserved: deque[int] = deque()
        self._sqlite_next_id: int | None = None
        self._keys_in_book: dict[str, dict[str, Any]] = {}

    # --- loading -----------------------------------------------------------------------

    def load(
        self,
        member_ids: Iterable[int],
        *,
        all_lots: bool = True,
        expire_at: dt.datetime | None = None,
    ) -> None:
        """Lock and load members, their unpaid debts and open lots; write due expiries.

        Lots whose expiry instant is at or before ``expire_at`` (default: now) are
        expired first. With ``all_lots=False`` only those lots are loaded: enough
        for credits, since a member who owes points has no open lots. Members
        already in the book keep their state (it is locked and current); their
        remaining lots are fetched if now needed.
        """
        cutoff = expire_at or self.now
        pg = self.db.is_postgresql
        wanted = set(member_ids)
        ids = sorted(wanted - set(self.members))
        refill = sorted(
            i for i in wanted if i in self.members and all_lots and not self.members[i].all_lots
        )
        reused: list[int] = []
        for part in chunked(ids):
            query = select(
                Member.id,
                Member.email,
                Member.shopify_id,
                Member.points_balance,
                Member.points_debt,
                Member.ledger_version,
            ).where(among(Member.id, part, postgresql=pg))
            if self.db.is_postgresql:
                query = query.order_by(Member.id).with_for_update()
            fresh: list[int] = []
            for row in self.session.execute(query):
                cached = self._carry.pop(row.id, None)
                if (
                    cached is not None
                    and cached.version == row.ledger_version
                    and (cached.balance, cached.debt) == (row.points_balance, row.points_debt)
                ):
                    # Nobody wrote this member since our last commit: our state is current.
                    self.members[row.id] = cached
                    if all_lots and not cached.all_lots:
                        reused.append(row.id)
                    continue
                label = row.email or (
                    f"Shopify customer {row.shopify_id}" if row.shopify_id else f"member {row.id}"
                )
                self.members[row.id] = MemberState(
                    row.id,
                    label,
                    int(row.points_balance),
                    int(row.points_debt),
                    email=row.email,
                    shopify_id=row.shopify_id,
                    all_lots=all_lots,
                    version=int(row.ledger_version),
                )
                fresh.append(row.id)
            missing = [i for i in part if i not in self.members]
            if missing:
                raise NotFoundError(f"no member with internal id {missing[0]}")
            if not fresh:
                continue
            for debt in self.session.execute(
                select(Debt.entry_id, Debt.member_id, Debt.unpaid).where(
                    among(Debt.member_id, fresh, postgresql=pg), Debt.unpaid > 0
                )
            ):
                self.members[debt.member_id].debts[debt.entry_id] = int(debt.unpaid)
            self._load_open_lots(fresh, due_by=None if all_lots else cutoff)
        refill = sorted({*refill, *reused})
        for part in chunked(refill):
            self._load_open_lots(part, due_by=None)
            for member_id in part:
                self.members[member_id].all_lots = True
        for member_id in (*ids, *refill):
            self.expire_due(self.members[member_id], at=cutoff)

    def _load_open_lots(self, member_ids: Sequence[int], *, due_by: dt.datetime | None) -> None:
        pg = self.db.is_postgresql
        # SQLite stores dates and times as text; parsing each one costs more than
        # the query, and open lots share few distinct dates: parse each text once.
        expires_on: Any = Lot.expires_on if pg else type_coerce(Lot.expires_on, String)
        expires_at: Any = Lot.expires_at if pg else type_coerce(Lot.expires_at, String)
        query = select(
            Lot.entry_id, Lot.member_id, Lot.points, Lot.remaining, expires_on, expires_at
        ).where(among(Lot.member_id, member_ids, postgresql=pg), Lot.remaining > 0)
        if due_by is not None:
            query = query.where(Lot.expires_at <= due_by)
        dates: dict[Any, dt.date | None] = {None: None}
        times: dict[Any, dt.datetime | None] = {None: None}
        for entry_id, member_id, points, remaining, on, at in self.session.execute(query):
            lots = self.members[member_id].lots
            # What this book already knows (or has changed and not flushed) wins.
            if entry_id in lots or entry_id in self._lot_updates:
                continue
            if on not in dates:
                dates[on] = on if pg else dt.date.fromisoformat(on)
            if at not in times:
                times[at] = at if pg else dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC)
            lots[entry_id] = OpenLot(entry_id, int(points), int(remaining), dates[on], times[at])

    def load_lots(self, lot_ids: Iterable[int]) -> dict[int, OpenLot]:
        """Specific lots (open or not), for reversals; added to their members' state."""
        out: dict[int, OpenLot] = {}
        wanted = sorted(set(lot_ids))
        for part in chunked(wanted):
            for lot in self.session.execute(
                select(
                    Lot.entry_id,
                    Lot.member_id,
                    Lot.points,
                    Lot.remaining,
                    Lot.expires_on,
                    Lot.expires_at,
                ).where(among(Lot.entry_id, part, postgresql=self.db.is_postgresql))
            ):
                state = self.members[lot.member_id]
                open_lot = state.lots.get(lot.entry_id)
                if open_lot is None:
                    open_lot = OpenLot(
                        lot.entry_id,
                        int(lot.points),
                        self._lot_updates.get(lot.entry_id, int(lot.remaining)),
                        lot.expires_on,
                        lot.expires_at,
                    )
                    state.lots[lot.entry_id] = open_lot
                out[lot.entry_id] = open_lot
        return out

    # --- ids and keys --------------------------------------------------------------------

    def reserve_entry_ids(self, count: int) -> None:
        """Reserve ``count`` more entry ids before posting (one round trip)."""
        if count <= 0:
            return
        if self.db.is_postgresql:
            rows = self.session.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('ledger_entries', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
            self._reserved.extend(int(r[0]) for r in rows)
            return
        # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE), so no
        # other writer can take these ids between here and the insert.
        if self._sqlite_next_id is None:
            highest = self.session.scalar(select(func.max(LedgerEntry.id)))
            self._sqlite_next_id = (highest or 0) + 1
        self._reserved.extend(range(self._sqlite_next_id, self._sqlite_next_id + count))
        self._sqlite_next_id += count

    def _next_id(self) -> int:
        if not self._reserved:
            # One id at a time on PostgreSQL so single postings leave no gaps.
            self.reserve_entry_ids(1 if self.db.is_postgresql else 16)
        return self._reserved.popleft()

    def pending_key(self, key: str) -> dict[str, Any] | None:
        """An entry with ``key`` posted earlier in this book and not yet flushed."""
        return self._keys_in_book.get(key)

    # --- postings ------------------------------------------------------------------------

    def _entry(
        self,
        state: MemberState,
        *,
        kind: str,
        points: int,
        meta: NewEntry,
        expires_on: dt.date | None = None,
        reverses_id: int | None = None,
        effective_at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        row = {
            "id": self._next_id(),
            "member_id": state.member_id,
            "kind": kind,
            "points": points,
            "expires_on": expires_on,
            "source": meta.source,
            "source_ref": meta.source_ref,
            "public_note": meta.public_note,
            "internal_note": meta.internal_note,
            "idempotency_key": meta.key,
            "set_to": meta.set_to,
            "reverses_id": reverses_id,
            "effective_at": effective_at or meta.effective_at or self.now,
            "created_at": self.now,
            # Expiring is the ledger's own rule, whoever's posting found the lot due.
            "actor": "system:expiry" if kind == "expiry" else self.actor,
            "batch_id": self.batch_id,
        }
        self._entries.append(row)
        if meta.key is not None:
            self._keys_in_book[meta.key] = row
        state.balance += points
        state.changed = True
        return row

    def _emit(self, state: MemberState, row: dict[str, Any]) -> None:
        """The entry's outbox event, once the posting is complete (balance and debt after)."""
        kind = str(row["kind"])
        points = int(row["points"])
        if state.identity_json is None:
            state.identity_json = member_json(state.identity)
        payload = entry_payload_json(
            state.identity_json,
            entry_id=int(row["id"]),
            kind=kind,
            points=points,
            source=str(row["source"]),
            source_ref=row["source_ref"],
            expires_on=row["expires_on"],
            balance_after=state.balance,
            debt_after=state.debt,
        )
        self.outbox.append(
            {
                "event_type": entry_event_type(kind, points),
                "member_id": state.member_id,
                "payload": payload,
                "created_at": self.now,
                "actor": row["actor"],
                "batch_id": self.batch_id,
            }
        )

    def _allocate(self, lot: OpenLot, entry_id: int, points: int) -> None:
        self._allocations.append({"lot_id": lot.lot_id, "entry_id": entry_id, "points": points})
        lot.remaining -= points
        self._lot_updates[lot.lot_id] = lot.remaining

    def credit(
        self, state: MemberState, points: int, *, expires_on: dt.date | None, meta: NewEntry
    ) -> dict[str, Any]:
        """Post a credit: a new lot, which first pays any debt."""
        if points <= 0:
            raise ValueError(f"a credit takes a positive number of points, got {points}")
        check_posting_amount(points, member=state.label)
        check_resulting_balance(state.balance + points, member=state.label)
        effective = meta.effective_at or self.now
        if expires_on is not None and expiry_instant(expires_on, self.zone) <= effective:
            raise LedgerError(
                f"a credit for {state.label} expiring on {expires_on} would expire before "
                f"it takes effect ({effective.astimezone(self.zone):%Y-%m-%d %H:%M})",
                hint="give a later expiry date",
            )
        row = self._entry(state, kind="credit", points=points, meta=meta, expires_on=expires_on)
        lot = OpenLot(
            row["id"],
            points,
            points,
            expires_on,
            expiry_instant(expires_on, self.zone) if expires_on else None,
        )
        self._new_lots.append(
            {
                "entry_id": lot.lot_id,
                "member_id": state.member_id,
                "points": points,
                "remaining": points,
                "expires_on": expires_on,
                "expires_at": lot.expires_at,
            }
        )
        state.lots[lot.lot_id] = lot
        self._settle(state)
        self._emit(state, row)
        return row

    def unchanged_set(
        self, state: MemberState, *, expires_on: dt.date | None, meta: NewEntry
    ) -> dict[str, Any]:
        """A zero-point entry for a keyed set that found the balance at its target.

        It holds the key (and the target, ``meta.set_to``) so a replay is
        recognised; it moves no points, opens no lot and sends no event.
        """
        if meta.key is None or meta.set_to is None:
            raise ValueError("only a keyed set records an entry that changes nothing")
        return self._entry(state, kind="credit", points=0, meta=meta, expires_on=expires_on)

    def debit(
        self, state: MemberState, points: int, *, allow_negative: bool, meta: NewEntry
    ) -> dict[str, Any]:
        """Post a debit: consume lots earliest expiry first; a shortfall becomes debt."""
        check_posting_amount(points, member=state.label)
        plan = plan_debit(
            state.lot_states(),
            points,
            debts=state.debt_states(),
            allow_negative=allow_negative,
            member=state.label,
        )
        check_resulting_balance(state.balance - points, member=state.label)
        row = self._entry(state, kind="debit", points=-points, meta=meta)
        for allocation in plan.allocations:
            self._allocate(state.lots[allocation.lot_id], row["id"], allocation.points)
        if plan.shortfall:
            self._new_debts.append(
                {
                    "entry_id": row["id"],
                    "member_id": state.member_id,
                    "points": plan.shortfall,
                    "unpaid": plan.shortfall,
                }
            )
            state.debts[row["id"]] = plan.shortfall
            state.debt += plan.shortfall
        self._drop_empty_lots(state)
        self._emit(state, row)
        return row

    def expire_due(self, state: MemberState, *, at: dt.datetime) -> list[dict[str, Any]]:
        """Write an expiry entry for each open lot whose expiry instant is at or before ``at``."""
        rows = []
        timed = [TimedLot(lot.lot_id, lot.remaining, lot.expires_at) for lot in state.lots.values()]
        for due in due_for_expiry(timed, at=at):
            lot = state.lots[due.lot_id]
            meta = NewEntry(
                source="expiry",
                source_ref=f"lot {lot.lot_id}",
                key=expiry_key(lot.lot_id),
                public_note=expiry_note(lot.remaining, lot.expires_on),
            )
            row = self._entry(
                state, kind="expiry", points=-lot.remaining, meta=meta, effective_at=lot.expires_at
            )
            self._allocate(lot, row["id"], lot.remaining)
            self._emit(state, row)
            rows.append(row)
        self._drop_empty_lots(state)
        return rows

    def reverse(
        self,
        state: MemberState,
        original: LedgerEntry,
        *,
        meta: NewEntry,
        allocations: Sequence[tuple[int, int]],
    ) -> dict[str, Any]:
        """Post the reversal of ``original`` (a credit or debit of ``state``'s member).

        ``allocations`` are the original's (lot id, points) uses, for a debit.
        """
        if original.kind == "credit":
            lot = self.load_lots([original.id])[original.id]
            check_credit_reversal(
                original.id,
                points=lot.points,
                remaining=lot.remaining,
                expired=bool(self._expired_lots({lot.lot_id: lot})),
                expires_on=lot.expires_on,
            )
            row = self._entry(
                state, kind="reversal", points=-lot.points, meta=meta, reverses_id=original.id
            )
            self._allocate(lot, row["id"], lot.points)
            self._drop_empty_lots(state)
            self._emit(state, row)
            return row
        # A debit: give back what each lot lent it, unless the lot has expired since.
        lots = self.load_lots(lot_id for lot_id, _ in allocations)
        plan = plan_debit_reversal(
            allocations,
            expired_lots=self._expired_lots(lots),
            unpaid_debt=state.debts.get(original.id, 0),
        )
        check_resulting_balance(state.balance + plan.points, member=state.label)
        note = meta.internal_note
        if plan.kept_expired:
            extra = (
                f"{plan.kept_expired} points from lots that have expired since were not restored"
            )
            note = f"{note}; {extra}" if note else extra
        meta = NewEntry(
            source=meta.source,
            source_ref=meta.source_ref,
            public_note=meta.public_note,
            internal_note=note,
            key=meta.key,
            effective_at=meta.effective_at,
        )
        row = self._entry(
            state, kind="reversal", points=plan.points, meta=meta, reverses_id=original.id
        )
        for lot_id, points in plan.restore.items():
            self._allocate(lots[lot_id], row["id"], -points)
        if plan.cancelled_debt:
            state.debts[original.id] = 0
            self._debt_updates[original.id] = 0
            state.debt -= plan.cancelled_debt
        self._settle(state)
        self._emit(state, row)
        return row

    def _expired_lots(self, lots: dict[int, OpenLot]) -> set[int]:
        """The ids of ``lots`` that have expired: by their date, or by an expiry entry
        already written (stored, or posted in this book), e.g. by a run dated ahead."""
        keys = {expiry_key(i): i for i, lot in lots.items() if lot.expires_at is not None}
        written = set(find_keys(self.session, keys)) | {k for k in keys if self.pending_key(k)}
        return {
            i
            for i, lot in lots.items()
            if lot_has_expired(lot.expires_at, at=self.now, expiry_written=expiry_key(i) in written)
        }

    def _settle(self, state: MemberState) -> None:
        """Pay outstanding debt from open lots (after points arrive)."""
        if not state.debt:
            return
        for payment in plan_settlement(state.lot_states(), state.debt_states()):
            self._allocate(state.lots[payment.lot_id], payment.debit_id, payment.points)
            state.debts[payment.debit_id] -= payment.points
            self._debt_updates[payment.debit_id] = state.debts[payment.debit_id]
            state.debt -= payment.points
        self._drop_empty_lots(state)

    @staticmethod
    def _drop_empty_lots(state: MemberState) -> None:
        for lot_id in [i for i, lot in state.lots.items() if lot.remaining == 0]:
            del state.lots[lot_id]

    # --- writing -------------------------------------------------------------------------

    def flush(self, *, balances: bool = True) -> None:
        """Write everything posted so far; the caller's transaction commits it.

        ``balances=False`` writes only the new rows (entries, lots, debts,
        allocations) and keeps the changed lot, debt and member balances for a
        later flush: a bulk call updates each of those rows once, at the end,
        instead of once per batch. The book's members stay locked meanwhile.
        """
        session = self.session
        # Lots and debts created in this book are inserted with their current value.
        for row in self._new_debts:
            if row["entry_id"] in self._debt_updates:
                row["unpaid"] = self._debt_updates.pop(row["entry_id"])
        for row in self._new_lots:
            if row["entry_id"] in self._lot_updates:
                row["remaining"] = self._lot_updates.pop(row["entry_id"])
        insert_rows(session, _table(LedgerEntry), self._entries)
        insert_rows(session, _table(Lot), self._new_lots)
        insert_rows(session, _table(Debt), self._new_debts)
        insert_rows(session, _table(AllocationRow), self._allocations)
        self._entries.clear()
        self._new_lots.clear()
        self._new_debts.clear()
        self._allocations.clear()
        self._keys_in_book.clear()
        if balances:
            self._write_balances()
        # Objects loaded earlier in this session may now be stale.
        session.expire_all()

    def _write_balances(self) -> None:
        update_rows(
            self.session,
            _table(Lot),
            "entry_id",
            [{"entry_id": i, "remaining": r} for i, r in self._lot_updates.items()],
        )
        update_rows(
            self.session,
            _table(Debt),
            "entry_id",
            [{"entry_id": i, "unpaid": u} for i, u in self._debt_updates.items()],
        )
        changed = [m for m in self.members.values() if m.changed]
        update_rows(
            self.session,
            _table(Member),
            "id",
            [
                {
                    "id": m.member_id,
                    "points_balance": m.balance,
                    "points_debt": m.debt,
                    "ledger_version": m.version + 1,
                    "updated_at": self.now,
                }
                for m in changed
            ],
        )
        for m in changed:
            m.changed = False
            m.version += 1
        self._lot_updates.clear()
        self._debt_updates.clear()

    def carry_over(self) -> dict[int, MemberState]:
        """The member states, for the next book once this one's work is committed."""
        if self._entries or self._lot_updates or self._debt_updates:
            raise RuntimeError("carry_over() before flush(): pending rows would be lost")
        if any(m.changed for m in self.members.values()):
            return {}
        return dict(self.members)

    def pending_allocations(self, entry_id: int) -> tuple[tuple[int, int], ...]:
        """(lot id, points) used by a posted, not yet flushed entry."""
        return tuple(
            (a["lot_id"], a["points"]) for a in self._allocations if a["entry_id"] == entry_id
        )

    def pending_rows(self) -> list[dict[str, Any]]:
        """Entry rows posted and not yet flushed (a copy of the list)."""
        return list(self._entries)

    @property
    def entries_pending(self) -> int:
        """Entries posted and not yet flushed."""
        return len(self._entries)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table
