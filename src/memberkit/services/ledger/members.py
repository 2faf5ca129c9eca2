"""Members: finding one by email or Shopify id, showing one, and upserting from exports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from memberkit.clock import utcnow
from memberkit.domain.members import MemberRecord, email_key, parse_member_ref
from memberkit.errors import InvalidValueError, NotFoundError
from memberkit.store.bulk import chunked
from memberkit.store.database import Database
from memberkit.store.models import Member, Tier, TierChange

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
    db: Database,
    *,
    email: str | None,
    shopify_id: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Add one member and return their internal id (imports use ``upsert_members_from_export``)."""
    if not email and not shopify_id:
        raise InvalidValueError("a member needs an email or a Shopify customer id")
    moment = now or utcnow()
    with db.write() as session:
        if email and session.scalar(select(Member.id).where(Member.email_key == email_key(email))):
            raise InvalidValueError(f"a member with email {email!r} already exists")
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
        return member.id


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


def upsert_members_from_export(
    db: Database,
    *,
    records: Iterable[MemberRecord],
    now: dt.datetime | None = None,
    batch_size: int = 5000,
) -> UpsertResult:
    """Insert new members and update changed ones, matching on Shopify id, then email.

    Runs in one transaction, in batches; a record without an email or Shopify id
    is skipped by the caller (readers reject such rows). Fields a record leaves
    as ``None`` keep their stored values. A record whose email belongs to another
    member is not written and is listed in ``conflicts`` with the reason.
    ``changed_ids`` lists the members created or updated.
    """
    moment = now or utcnow()
    created = updated = unchanged = 0
    changed_ids: list[int] = []
    conflicts: list[tuple[MemberRecord, str]] = []
    columns = ("id", "shopify_id", "email_key", *_PROFILE_FIELDS, *_WALLET_FIELDS)
    with db.write() as session:
        batch: list[MemberRecord] = []

        def flush(batch: list[MemberRecord]) -> None:
            nonlocal created, updated, unchanged
            shopify_ids = [r.shopify_id for r in batch if r.shopify_id]
            keys = [email_key(r.email) for r in batch if r.email and r.email.strip()]
            by_shopify: dict[str, dict[str, Any]] = {}
            by_email: dict[str, dict[str, Any]] = {}
            wanted = [getattr(Member, c) for c in columns]
            for part in chunked(shopify_ids):
                for row in session.execute(select(*wanted).where(Member.shopify_id.in_(part))):
                    by_shopify[row.shopify_id] = dict(row._mapping)
            for part in chunked(keys):
                for row in session.execute(select(*wanted).where(Member.email_key.in_(part))):
                    by_email[row.email_key] = dict(row._mapping)
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
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
                diff = {k: v for k, v in values.items() if existing.get(k) != v}
                if diff:
                    existing.update(diff)
                    updates.append({"b_id": existing["id"], **existing, "updated_at": moment})
                    changed_ids.append(existing["id"])
                else:
                    unchanged += 1
            if inserts:
                result = session.execute(
                    insert(Member).returning(Member.id, sort_by_parameter_order=True), inserts
                )
                changed_ids.extend(result.scalars().all())
                created += len(inserts)
            if updates:
                table = Member.__table__
                session.connection().execute(
                    update(table)  # type: ignore[arg-type]
                    .where(table.c.id == bindparam("b_id"))
                    .values(
                        {
                            name: bindparam(name)
                            for name in (*columns[1:], "updated_at")
                            if name != "id"
                        }
                    ),
                    [{k: v for k, v in u.items() if k != "id"} for u in updates],
                )
                updated += len(updates)

        for record in records:
            batch.append(record)
            if len(batch) >= batch_size:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    return UpsertResult(created, updated, unchanged, tuple(changed_ids), tuple(conflicts))
