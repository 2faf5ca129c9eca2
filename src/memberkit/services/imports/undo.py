"""Undoing an applied import: reversal entries, tiers and profiles restored.

Points: every credit and debit of the import's batch (and the tier rewards it
issued) gets its reversal entry (source ``reversal``, key
``undo:<import>:<entry>``), in chunks that commit, so an undo killed half-way
is finished by running it again. A credit whose points were already spent (or
have expired) cannot be reversed: its row is listed and left, and the summary
says so. Tiers: each member the import moved, and who is still in the tier it
moved them to, goes back to the tier before (tier history says which).
Profiles: each field the import changed, and that still holds the imported
value, gets its previous value back (``profile_changes.before``). A member
changed since is listed and left. The import is then ``reverted``; undoing a
reverted import does nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from memberkit.clock import utcnow
from memberkit.config import Settings
from memberkit.domain.events import MemberIdentity
from memberkit.domain.ledger import ReversalError
from memberkit.events.types import TIER_CHANGED
from memberkit.services.imports.apply import _import_lock
from memberkit.services.imports.records import ImportStateError, missing_import
from memberkit.services.ledger.members import ProfileDiff, record_profile_changes
from memberkit.store.bulk import among, chunked
from memberkit.store.database import Database
from memberkit.store.ledger_book import NewEntry
from memberkit.store.models import (
    AllocationRow,
    Batch,
    Import,
    LedgerEntry,
    Member,
    ProfileChange,
    Tier,
    TierChange,
)
from memberkit.store.unit_of_work import UnitOfWork

_CHUNK = 5000
_ROW_REF = re.compile(r"^import \d+ row (\d+)$")


@dataclass(frozen=True)
class UndoOutcome:
    """What an undo did, and what it had to leave."""

    import_id: int
    reversed_entries: int = 0
    restored_tiers: int = 0
    restored_profiles: int = 0
    left: list[str] = field(default_factory=list)
    already_undone: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def summary(self) -> str:
        """One line for people."""
        if self.already_undone:
            return f"import #{self.import_id} was already undone; nothing changed"
        parts = [f"{self.reversed_entries} entries reversed"]
        if self.restored_tiers:
            parts.append(f"{self.restored_tiers} tiers restored")
        if self.restored_profiles:
            parts.append(f"{self.restored_profiles} profiles restored")
        text = f"import #{self.import_id} undone: " + ", ".join(parts)
        if self.left:
            text += (
                f"; {len(self.left)} rows left as they are (points already spent or changed since)"
            )
        return text


def undo_import(db: Database, settings: Settings, import_id: int, *, actor: str) -> UndoOutcome:
    """Undo import ``import_id`` (see the module docstring)."""
    with _import_lock(db, import_id, f"memberkit import undo {import_id}"):
        with db.write() as session:
            row = session.get(Import, import_id)
            if row is None:
                raise missing_import(import_id)
            if row.status == "reverted":
                return UndoOutcome(import_id, already_undone=True)
            if row.status != "completed":
                raise ImportStateError(
                    f"import #{import_id} is {row.status}; only a completed import is undone",
                    hint=f"finish it with `memberkit import resume {import_id}` first"
                    if row.status == "running"
                    else None,
                )
            batch_id = row.batch_id
            emit = bool(json.loads(row.options or "{}").get("emit_events", True))
            undo_batch = Batch(
                kind="import_undo",
                label=f"undo of import #{import_id}",
                actor=actor,
                state="running",
                position=0,
                details="{}",
                started_at=utcnow(),
            )
            session.add(undo_batch)
            session.flush()
            undo_batch_id = undo_batch.id
        assert batch_id is not None
        zone = settings.processing.zone
        reversed_count, left = _reverse_entries(
            db, import_id, batch_id, undo_batch_id, actor=actor, zone=zone, emit=emit
        )
        with UnitOfWork.begin(db, actor=actor, batch=undo_batch_id, zone=zone) as work:
            tiers, tiers_left = _restore_tiers(work, import_id, batch_id, emit=emit)
            profiles, profiles_left = _restore_profiles(work, batch_id, emit=emit)
            outcome = UndoOutcome(
                import_id,
                reversed_entries=reversed_count,
                restored_tiers=tiers,
                restored_profiles=profiles,
                left=[*left, *tiers_left, *profiles_left],
            )
            imported = work.session.get(Import, import_id)
            assert imported is not None
            imported.status = "reverted"
            imported.undone_at = work.now
            imported.undo_summary = json.dumps(outcome.to_json())
            batch = work.session.get(Batch, undo_batch_id)
            assert batch is not None
            batch.state = "done"
            batch.finished_at = work.now
        return outcome


def _row_of(entry: LedgerEntry) -> str:
    match = _ROW_REF.match(entry.source_ref or "")
    return f"row {match.group(1)}" if match else f"entry {entry.id}"


def _reverse_entries(
    db: Database,
    import_id: int,
    batch_id: int,
    undo_batch_id: int,
    *,
    actor: str,
    zone: Any,
    emit: bool,
) -> tuple[int, list[str]]:
    reversed_count = 0
    left: list[str] = []
    last_id = 0
    reversal = aliased(LedgerEntry)
    while True:
        with UnitOfWork.begin(db, actor=actor, batch=undo_batch_id, zone=zone) as work:
            session = work.session
            entries = list(
                session.scalars(
                    select(LedgerEntry)
                    .outerjoin(reversal, reversal.reverses_id == LedgerEntry.id)
                    .where(
                        LedgerEntry.batch_id == batch_id,
                        LedgerEntry.kind.in_(("credit", "debit")),
                        LedgerEntry.id > last_id,
                        reversal.id.is_(None),
                    )
                    .order_by(LedgerEntry.id)
                    .limit(_CHUNK)
                )
            )
            if not entries:
                return reversed_count, left
            last_id = entries[-1].id
            book = work.book
            book.load({e.member_id for e in entries}, all_lots=True)
            allocations: dict[int, list[tuple[int, int]]] = {}
            debits = [e.id for e in entries if e.kind == "debit"]
            for part in chunked(debits):
                for entry_id, lot_id, points in session.execute(
                    select(AllocationRow.entry_id, AllocationRow.lot_id, AllocationRow.points)
                    .where(among(AllocationRow.entry_id, part, postgresql=db.is_postgresql))
                    .order_by(AllocationRow.id)
                ):
                    allocations.setdefault(entry_id, []).append((lot_id, points))
            events_from = len(work.events)
            for entry in entries:
                state = book.members[entry.member_id]
                meta = NewEntry(
                    source="reversal",
                    source_ref=f"entry {entry.id}",
                    internal_note=f"undo of import #{import_id}",
                    key=f"undo:{import_id}:{entry.id}",
                )
                try:
                    book.reverse(state, entry, meta=meta, allocations=allocations.get(entry.id, []))
                except ReversalError as exc:
                    left.append(f"{_row_of(entry)}: {state.label}: {exc.message}")
                    continue
                reversed_count += 1
            if not emit:
                del work.events[events_from:]


def _restore_tiers(
    work: UnitOfWork, import_id: int, batch_id: int, *, emit: bool
) -> tuple[int, list[str]]:
    session = work.session
    changes = list(
        session.scalars(
            select(TierChange).where(TierChange.batch_id == batch_id).order_by(TierChange.id)
        )
    )
    if not changes:
        return 0, []
    names = {t.id: t.name for t in session.scalars(select(Tier))}
    restored = 0
    left: list[str] = []
    for change in changes:
        member = session.get(Member, change.member_id)
        assert member is not None
        if member.tier_id != change.to_tier_id:
            left.append(
                f"{change.reason.removeprefix(f'import #{import_id} ')}: {member.label}: "
                "tier changed since the import; left as it is"
            )
            continue
        back = TierChange(
            member_id=member.id,
            from_tier_id=change.to_tier_id,
            to_tier_id=change.from_tier_id,
            changed_at=work.now,
            reason=f"undo of import #{import_id}",
            changed_by=work.actor,
            batch_id=work.batch_id,
        )
        session.add(back)
        member.tier_id = change.from_tier_id
        member.updated_at = work.now
        session.flush()
        restored += 1
        if emit:
            work.emit(
                TIER_CHANGED,
                member.id,
                {
                    "member": MemberIdentity(member.id, member.email, member.shopify_id).to_json(),
                    "tier_change_id": back.id,
                    "from_tier": names.get(change.to_tier_id) if change.to_tier_id else None,
                    "to_tier": names.get(change.from_tier_id) if change.from_tier_id else None,
                    "reason": back.reason,
                    "reward_entry_id": None,
                    "balance_after": member.points_balance,
                },
            )
    return restored, left


_PROFILE_FIELDS = ("birthday", "gender")


def _restore_profiles(work: UnitOfWork, batch_id: int, *, emit: bool) -> tuple[int, list[str]]:
    session = work.session
    changes = list(
        session.scalars(
            select(ProfileChange)
            .where(ProfileChange.batch_id == batch_id)
            .order_by(ProfileChange.id)
        )
    )
    restored = 0
    left: list[str] = []
    diffs: list[ProfileDiff] = []
    for change in changes:
        member = session.get(Member, change.member_id)
        assert member is not None
        before = json.loads(change.before)
        after = json.loads(change.after)
        back_before: dict[str, Any] = {}
        back_after: dict[str, Any] = {}
        for name in _PROFILE_FIELDS:
            if name not in after:
                continue
            current = getattr(member, name)
            current_text = current.isoformat() if hasattr(current, "isoformat") else current
            if current_text != after[name]:
                left.append(f"{member.label}: {name} changed since the import; left as it is")
                continue
            previous = before.get(name)
            value: Any = previous
            if name == "birthday" and previous is not None:
                import datetime as dt

                value = dt.date.fromisoformat(previous)
            back_before[name] = current
            back_after[name] = value
            setattr(member, name, value)
        if back_after:
            member.updated_at = work.now
            restored += 1
            diffs.append(
                ProfileDiff(member.id, member.email, member.shopify_id, back_before, back_after)
            )
    session.flush()
    events_from = len(work.events)
    record_profile_changes(work, diffs)
    if not emit:
        del work.events[events_from:]
    return restored, left
