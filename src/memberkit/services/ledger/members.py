"""Members: finding one by email or Shopify id, showing one, and upserting from exports."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from memberkit.domain.events import PROFILE_UPDATED, MemberIdentity, json_value
from memberkit.domain.members import (
    MemberRecord,
    Wallet,
    email_key,
    merge_wallet,
    parse_member_ref,
)
from memberkit.errors import InvalidValueError, NotFoundError
from memberkit.store.bulk import among, chunked, insert_rows, update_rows
from memberkit.store.database import Database
from memberkit.store.models import Member, ProfileChange, Tier, TierChange
from memberkit.store.unit_of_work import UnitOfWork, unit_of_work

MemberRef = str | int
"""A member as callers name one: an email or Shopify id (str), or the internal id (int)."""


def find_member(session: Session, ref: MemberRef) -> Member:
    """The member ``ref`` names; ``NotFoundError`` naming it when there is none."""
    if isinstance(ref, int):
        found = session.get(Member, ref)
        if found is None:
            raise NotFoundError(f"no member with internal id {ref}")
        return found
    kind, value = parse_member_ref(ref)
    column = Member.email_key if kind == "email" else Member.shopify_id
    member = session.scalars(select(Member).where(column == value)).first()
    if member is None:
        what = "email" if kind == "email" else "Shopify customer id"
        raise NotFoundError(
            f"no member with {what} {ref.strip()!r}",
            hint="check the spelling, or import or add the member first",
            member=ref.strip(),
        )
    return member


def create_member(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    actor: str | None = None,
    email: str | None,
    shopify_id: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Add one member and return their internal id (imports use ``upsert_members_from_export``).

    Writes the member's ``profile_changes`` row (nothing before) and a
    ``profile/updated`` event with ``created`` true, in the same unit of work.
    """
    if not email and not shopify_id:
        raise InvalidValueError("a member needs an email or a Shopify customer id")
    with unit_of_work(uow, db, actor=actor, now=now) as work:
        session = work.session
        moment = work.now
        if email and session.scalar(select(Member.id).where(Member.email_key == email_key(email))):
            raise InvalidValueError(f"a member with email {email!r} already exists")
        if shopify_id and session.scalar(select(Member.id).where(Member.shopify_id == shopify_id)):
            raise InvalidValueError(
                f"a member with Shopify customer id {shopify_id} already exists"
            )
        member = Member(
            email=email.strip() if email else None,
            email_key=email_key(email) if email else None,
            shopify_id=shopify_id,
            first_name=first_name,
            last_name=last_name,
            points_balance=0,
            points_debt=0,
            codes_available="[]",
            codes_used="[]",
            codes_expired="[]",
            created_at=moment,
            updated_at=moment,
        )
        session.add(member)
        session.flush()
        after = {
            name: getattr(member, name)
            for name in ("shopify_id", "email", "first_name", "last_name")
            if getattr(member, name) is not None
        }
        record_profile_changes(
            work, [ProfileDiff(member.id, member.email, member.shopify_id, {}, after, True)]
        )
        return member.id


@dataclass(frozen=True)
class ProfileDiff:
    """One member's changed profile fields: values before (absent: new) and after."""

    member_id: int
    email: str | None
    shopify_id: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    created: bool = False


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    return {name: json_value(value) for name, value in values.items()}


def record_profile_changes(work: UnitOfWork, diffs: Sequence[ProfileDiff]) -> None:
    """Write a ``profile_changes`` row and a ``profile/updated`` event per diff, in bulk.

    The history row keeps the previous values of exactly the changed fields, so
    an import (one batch) can be undone field by field.
    """
    if not diffs:
        return
    rows = [
        {
            "member_id": d.member_id,
            "before": json.dumps(_json_values(d.before), sort_keys=True, ensure_ascii=False),
            "after": json.dumps(_json_values(d.after), sort_keys=True, ensure_ascii=False),
            "changed_at": work.now,
            "actor": work.actor,
            "batch_id": work.batch_id,
        }
        for d in diffs
    ]
    table = ProfileChange.__table__
    assert isinstance(table, Table)
    insert_rows(work.session, table, rows)
    for d in diffs:
        work.emit(
            PROFILE_UPDATED,
            d.member_id,
            {
                "member": MemberIdentity(d.member_id, d.email, d.shopify_id).to_json(),
                "created": d.created,
                "changed": {
                    name: {
                        "before": json_value(d.before.get(name)),
                        "after": json_value(d.after.get(name)),
                    }
                    for name in sorted(set(d.before) | set(d.after))
                },
            },
        )


@dataclass(frozen=True)
class TierChangeView:
    """One line of a member's tier history."""

    from_tier: str | None
    to_tier: str | None
    changed_at: dt.datetime
    reason: str
    changed_by: str


@dataclass(frozen=True)
class MemberView:
    """Everything ``members show`` prints about one member."""

    id: int
    shopify_id: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    account_state: str | None
    member_since: dt.date | None
    birthday: dt.date | None
    gender: str | None
    tags: str | None
    accepts_email_marketing: bool | None
    total_spent: Decimal | None
    orders_count: int | None
    tier: str | None
    points_balance: int
    points_debt: int
    wallet: dict[str, list[Any]]
    tier_history: list[TierChangeView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = {k: v for k, v in self.__dict__.items() if k != "tier_history"}
        data["total_spent"] = str(self.total_spent) if self.total_spent is not None else None
        data["tier_history"] = [change.__dict__ for change in self.tier_history]
        return data


def show_member(db: Database, *, member: MemberRef) -> MemberView:
    """A member's profile, tier, points and wallet, with their tier history."""
    with db.read() as session:
        found = find_member(session, member)
        tier_names = dict(session.execute(select(Tier.id, Tier.name)).all())
        history = [
            TierChangeView(
                from_tier=tier_names.get(change.from_tier_id) if change.from_tier_id else None,
                to_tier=tier_names.get(change.to_tier_id) if change.to_tier_id else None,
                changed_at=change.changed_at,
                reason=change.reason,
                changed_by=change.changed_by,
            )
            for change in session.scalars(
                select(TierChange)
                .where(TierChange.member_id == found.id)
                .order_by(TierChange.changed_at, TierChange.id)
            )
        ]
        return MemberView(
            id=found.id,
            shopify_id=found.shopify_id,
            email=found.email,
            first_name=found.first_name,
            last_name=found.last_name,
            account_state=found.account_state,
            member_since=found.member_since,
            birthday=found.birthday,
            gender=found.gender,
            tags=found.tags,
            accepts_email_marketing=found.accepts_email_marketing,
            total_spent=found.total_spent,
            orders_count=found.orders_count,
            tier=tier_names.get(found.tier_id) if found.tier_id else None,
            points_balance=found.points_balance,
            points_debt=found.points_debt,
            wallet=found.wallet(),
            tier_history=history,
        )


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did: members created, updated (something changed), unchanged, refused."""

    created: int
    updated: int
    unchanged: int
    changed_ids: tuple[int, ...] = ()
    # Records not written because their email belongs to another member.
    conflicts: tuple[tuple[MemberRecord, str], ...] = ()


_PROFILE_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "account_state",
    "member_since",
    "birthday",
    "gender",
    "tags",
    "accepts_email_marketing",
    "total_spent",
    "orders_count",
)
_WALLET_FIELDS = ("codes_available", "codes_used", "codes_expired")


def _record_values(record: MemberRecord) -> dict[str, Any]:
    """The columns a record sets; fields the file did not carry are left out."""
    values: dict[str, Any] = {}
    if record.shopify_id is not None:
        values["shopify_id"] = record.shopify_id
    for name in _PROFILE_FIELDS:
        value = getattr(record, name)
        if value is not None:
            values[name] = value.strip() if isinstance(value, str) else value
    if record.email is not None and record.email.strip():
        values["email_key"] = email_key(record.email)
    for name in _WALLET_FIELDS:
        codes = getattr(record, name)
        if codes is not None:
            values[name] = codes.strip() or "[]"
    return values


def _email_conflict(
    record: MemberRecord, by_id: dict[str, Any] | None, owner: dict[str, Any] | None
) -> str | None:
    """Why a record cannot be written: its email belongs to a different member."""
    if owner is None:
        return None
    if by_id is not None and by_id["id"] != owner["id"]:
        return (
            f"email {record.email!r} already belongs to "
            f"Shopify customer {owner['shopify_id'] or owner['id']}"
        )
    if by_id is None and record.shopify_id and owner["shopify_id"] not in (None, record.shopify_id):
        return f"email {record.email!r} already belongs to Shopify customer {owner['shopify_id']}"
    return None


def _reserve_member_ids(session: Session, db: Database, count: int) -> list[int]:
    """``count`` new member ids, taken before a bulk insert (COPY returns no ids)."""
    if count <= 0:
        return []
    if db.is_postgresql:
        rows = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('members', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return [int(r[0]) for r in rows]
    # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE).
    highest = session.scalar(select(func.max(Member.id))) or 0
    return list(range(highest + 1, highest + 1 + count))


def upsert_members_from_export(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    actor: str | None = None,
    records: Iterable[MemberRecord],
    now: dt.datetime | None = None,
    batch_size: int = 5000,
) -> UpsertResult:
    """Insert new members and update changed ones, matching on Shopify id, then email.

    Runs in one unit of work, in batches written with the bulk writers (``COPY``
    on PostgreSQL). A record without an email or Shopify id is skipped by the
    caller (readers reject such rows). Fields a record leaves as ``None`` keep
    their stored values; the others follow the export, except the code lists,
    which merge by ``domain.members.merge_wallet`` (a used or expired code never
    comes back as available). A record whose email belongs to another member is
    not written and is listed in ``conflicts`` with the reason. Every created or
    changed member gets a ``profile_changes`` row (the changed fields' previous
    and new values) and a ``profile/updated`` event. ``changed_ids`` lists the
    members created or updated.
    """
    created = updated = unchanged = 0
    changed_ids: list[int] = []
    conflicts: list[tuple[MemberRecord, str]] = []
    columns = ("id", "shopify_id", "email_key", *_PROFILE_FIELDS, *_WALLET_FIELDS)
    table = Member.__table__
    assert isinstance(table, Table)
    with unit_of_work(uow, db, actor=actor, now=now) as work:
        session = work.session
        moment = work.now
        pg = work.db.is_postgresql
        batch: list[MemberRecord] = []

        def flush(batch: list[MemberRecord]) -> None:
            nonlocal created, updated, unchanged
            shopify_ids = sorted({r.shopify_id for r in batch if r.shopify_id})
            keys = sorted({email_key(r.email) for r in batch if r.email and r.email.strip()})
            by_shopify: dict[str, dict[str, Any]] = {}
            by_email: dict[str, dict[str, Any]] = {}
            wanted = [getattr(Member, c) for c in columns]
            for part in chunked(shopify_ids):
                query = select(*wanted).where(among(Member.shopify_id, part, postgresql=pg))
                for found in session.execute(query):
                    by_shopify[found.shopify_id] = dict(found._mapping)
            for part in chunked(keys):
                query = select(*wanted).where(among(Member.email_key, part, postgresql=pg))
                for found in session.execute(query):
                    by_email[found.email_key] = dict(found._mapping)
            inserts: list[dict[str, Any]] = []
            updates: dict[int, dict[str, Any]] = {}
            before_of: dict[int, dict[str, Any]] = {}
            seen_new: dict[str, dict[str, Any]] = {}
            new_emails: dict[str, str] = {}
            for record in batch:
                values = _record_values(record)
                key = values.get("email_key")
                by_id = by_shopify.get(record.shopify_id) if record.shopify_id else None
                owner = by_email.get(key) if key else None
                existing = by_id or owner
                problem = _email_conflict(record, by_id, owner)
                ident = values.get("shopify_id") or key or ""
                if existing is None and key and new_emails.get(key, ident) != ident:
                    problem = f"email {record.email!r} is also in an earlier row of this import"
                if problem:
                    conflicts.append((record, problem))
                    continue
                if existing is None:
                    if ident in seen_new:  # the same person twice in one file: last wins
                        seen_new[ident].update(values)
                        continue
                    if key:
                        new_emails[key] = ident
                    new_row: dict[str, Any] = {
                        "points_balance": 0,
                        "points_debt": 0,
                        "codes_available": "[]",
                        "codes_used": "[]",
                        "codes_expired": "[]",
                        "created_at": moment,
                        "updated_at": moment,
                        **dict.fromkeys(("shopify_id", "email_key", *_PROFILE_FIELDS)),
                    }
                    new_row.update(values)
                    inserts.append(new_row)
                    seen_new[ident] = new_row
                    continue
                wallet = merge_wallet(
                    Wallet(
                        existing["codes_available"],
                        existing["codes_used"],
                        existing["codes_expired"],
                    ),
                    available=values.pop("codes_available", None),
                    used=values.pop("codes_used", None),
                    expired=values.pop("codes_expired", None),
                )
                values["codes_available"] = wallet.available
                values["codes_used"] = wallet.used
                values["codes_expired"] = wallet.expired
                diff = {k: v for k, v in values.items() if existing.get(k) != v}
                if diff:
                    first = before_of.setdefault(existing["id"], {})
                    for name in diff:
                        first.setdefault(name, existing.get(name))
                    existing.update(diff)
                    updates[existing["id"]] = existing
                else:
                    unchanged += 1
            diffs: list[ProfileDiff] = []
            if inserts:
                ids = _reserve_member_ids(session, work.db, len(inserts))
                for member_id, row in zip(ids, inserts, strict=True):
                    row["id"] = member_id
                    after = {
                        k: row[k]
                        for k in ("shopify_id", *_PROFILE_FIELDS, *_WALLET_FIELDS)
                        if row.get(k) is not None and row.get(k) != "[]"
                    }
                    diffs.append(
                        ProfileDiff(member_id, row["email"], row["shopify_id"], {}, after, True)
                    )
                insert_rows(session, table, inserts)
                changed_ids.extend(ids)
                created += len(inserts)
            if updates:
                update_rows(
                    session,
                    table,
                    "id",
                    [
                        {**{c: row[c] for c in columns}, "updated_at": moment}
                        for row in updates.values()
                    ],
                )
                for member_id, row in updates.items():
                    before = before_of[member_id]
                    after = {name: row[name] for name in before}
                    diffs.append(
                        ProfileDiff(member_id, row["email"], row["shopify_id"], before, after)
                    )
                changed_ids.extend(updates)
                updated += len(updates)
            record_profile_changes(work, diffs)

        for record in records:
            batch.append(record)
            if len(batch) >= batch_size:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    return UpsertResult(created, updated, unchanged, tuple(changed_ids), tuple(conflicts))
