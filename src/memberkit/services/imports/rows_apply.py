"""Applying a chunk of ``tiers`` or ``profiles`` rows inside one unit of work.

Members are resolved in bulk (one query per chunk and column), locked on
PostgreSQL in id order; tier moves write tier history (``tier_history``) and a
``tier/changed`` event, with the tier's entry reward credited in the same
transaction when the import asks for it; profile changes write
``profile_changes`` (the previous values, for undo) and ``profile/updated``.
A row for an unknown member fails with ``Customer not found``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select

from memberkit.domain.events import MemberIdentity
from memberkit.domain.imports import CUSTOMER_NOT_FOUND, ImportRow
from memberkit.domain.members import email_key
from memberkit.events.types import TIER_CHANGED
from memberkit.services.imports.records import ImportOptions
from memberkit.services.ledger.members import ProfileDiff, record_profile_changes
from memberkit.store.bulk import among, chunked, update_rows
from memberkit.store.ledger_book import NewEntry
from memberkit.store.models import Member, Tier, TierChange
from memberkit.store.unit_of_work import UnitOfWork


@dataclass
class FoundMember:
    """The fields of a member a tiers or profiles row needs."""

    id: int
    email: str | None
    shopify_id: str | None
    tier_id: int | None
    birthday: dt.date | None
    gender: str | None
    balance: int = 0


def resolve_members(
    work: UnitOfWork, rows: Sequence[ImportRow]
) -> dict[tuple[str, str], FoundMember]:
    """The members the rows name, by ``("email", key)`` or ``("customer_id", id)``."""
    pg = work.db.is_postgresql
    emails = sorted({email_key(r.email) for r in rows if r.email})
    ids = sorted({r.customer_id for r in rows if r.email is None and r.customer_id})
    found: dict[tuple[str, str], FoundMember] = {}
    columns = (
        Member.id,
        Member.email,
        Member.shopify_id,
        Member.tier_id,
        Member.birthday,
        Member.gender,
        Member.email_key,
        Member.points_balance,
    )
    for column, values, tag in (
        (Member.email_key, emails, "email"),
        (Member.shopify_id, ids, "customer_id"),
    ):
        for part in chunked(values):
            query = select(*columns).where(among(column, part, postgresql=pg))
            if pg:
                query = query.order_by(Member.id).with_for_update()
            for row in work.session.execute(query):
                member = FoundMember(
                    row.id,
                    row.email,
                    row.shopify_id,
                    row.tier_id,
                    row.birthday,
                    row.gender,
                    int(row.points_balance),
                )
                key = row.email_key if tag == "email" else row.shopify_id
                found[(tag, key)] = member
    return found


def _key(row: ImportRow) -> tuple[str, str]:
    if row.email:
        return ("email", email_key(row.email))
    assert row.customer_id is not None
    return ("customer_id", row.customer_id)


def apply_tier_chunk(
    work: UnitOfWork, rows: Sequence[ImportRow], import_id: int, options: ImportOptions
) -> list[tuple[int, str]]:
    """Move each row's member to its tier; returns the failed rows ``(number, reason)``."""
    session = work.session
    members = resolve_members(work, rows)
    tiers = {t.name: t for t in session.scalars(select(Tier))}
    failed: list[tuple[int, str]] = []
    moves: list[tuple[ImportRow, FoundMember, Tier, TierChange]] = []
    for row in rows:
        member = members.get(_key(row))
        if member is None:
            failed.append((row.number, CUSTOMER_NOT_FOUND))
            continue
        assert row.tier is not None
        target = tiers.get(row.tier)
        if target is None:
            failed.append((row.number, f"Unknown tier {row.tier!r}"))
            continue
        if member.tier_id == target.id:
            continue  # already there: nothing to write, the row succeeds
        change = TierChange(
            member_id=member.id,
            from_tier_id=member.tier_id,
            to_tier_id=target.id,
            changed_at=work.now,
            reason=f"import #{import_id} row {row.number}",
            changed_by=work.actor,
            batch_id=work.batch_id,
        )
        session.add(change)
        member.tier_id = target.id
        moves.append((row, member, target, change))
    if not moves:
        return failed
    session.flush()
    update_rows(
        session,
        _table(Member),
        "id",
        [{"id": m.id, "tier_id": m.tier_id, "updated_at": work.now} for _, m, _, _ in moves],
    )
    events_from = len(work.events)
    rewarded = [
        (m, t, c) for _, m, t, c in moves if options.issue_tier_rewards and t.entry_reward_points
    ]
    book = work.book if rewarded else None
    if book is not None:
        book.load([m.id for m, _, _ in rewarded], all_lots=False)
    by_id = {t.id: t.name for t in tiers.values()}
    for _row, member, target, change in moves:
        reward_id: int | None = None
        if book is not None and options.issue_tier_rewards and target.entry_reward_points:
            entry = book.credit(
                book.members[member.id],
                target.entry_reward_points,
                expires_on=None,
                meta=NewEntry(
                    source="tier_reward",
                    source_ref=f"tier change {change.id}",
                    public_note=f"Welcome to {target.name}",
                    key=f"tier_reward:{change.id}",
                ),
            )
            reward_id = int(entry["id"])
        state = book.members.get(member.id) if book is not None else None
        balance = state.balance if state is not None else member.balance
        work.emit(
            TIER_CHANGED,
            member.id,
            {
                "member": MemberIdentity(member.id, member.email, member.shopify_id).to_json(),
                "tier_change_id": change.id,
                "from_tier": by_id.get(change.from_tier_id) if change.from_tier_id else None,
                "to_tier": target.name,
                "reason": change.reason,
                "reward_entry_id": reward_id,
                "balance_after": balance,
            },
        )
    if not options.emit_events:
        del work.events[events_from:]
    return failed


def apply_profile_chunk(
    work: UnitOfWork, rows: Sequence[ImportRow], options: ImportOptions
) -> list[tuple[int, str]]:
    """Set each row's birthday and/or gender (blank cells leave a field as it is)."""
    members = resolve_members(work, rows)
    failed: list[tuple[int, str]] = []
    diffs: list[ProfileDiff] = []
    for row in rows:
        member = members.get(_key(row))
        if member is None:
            failed.append((row.number, CUSTOMER_NOT_FOUND))
            continue
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if row.birthday is not None and row.birthday != member.birthday:
            before["birthday"], after["birthday"] = member.birthday, row.birthday
            member.birthday = row.birthday
        if row.gender is not None and row.gender != member.gender:
            before["gender"], after["gender"] = member.gender, row.gender
            member.gender = row.gender
        if after:
            diffs.append(ProfileDiff(member.id, member.email, member.shopify_id, before, after))
    if not diffs:
        return failed
    changed = {d.member_id for d in diffs}
    by_id = {m.id: m for m in members.values() if m.id in changed}
    update_rows(
        work.session,
        _table(Member),
        "id",
        [
            {"id": m.id, "birthday": m.birthday, "gender": m.gender, "updated_at": work.now}
            for m in by_id.values()
        ],
    )
    events_from = len(work.events)
    record_profile_changes(work, diffs)
    if not options.emit_events:
        del work.events[events_from:]
    return failed


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table
