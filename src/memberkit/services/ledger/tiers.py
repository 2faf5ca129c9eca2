"""VIP tiers: list, add, rename, move a member between tiers (with history), and evaluate.

Entering a tier with an entry reward of points credits them (source
``tier_reward``, one idempotency key per tier change) in the same unit of work
as the move, through the same posting path as any credit; the move writes a
``tier/changed`` event. A code template is
stored with the tier for the rewards update to use; issuing codes is not done here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from memberkit.clock import utcnow
from memberkit.domain.events import TIER_CHANGED, MemberIdentity
from memberkit.domain.tiers import TierRule, qualifying_tier
from memberkit.errors import InvalidValueError, NotFoundError
from memberkit.services.ledger.members import MemberRef, find_member
from memberkit.services.ledger.points import add_points
from memberkit.store.database import Database
from memberkit.store.models import LedgerEntry, Member, Tier, TierChange
from memberkit.store.unit_of_work import UnitOfWork, unit_of_work


@dataclass(frozen=True)
class TierView:
    """A tier as listed."""

    id: int
    name: str
    rank: int
    threshold: int | None
    entry_reward_points: int | None
    entry_reward_code_template: str | None
    members: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


def _view(tier: Tier, members: int = 0) -> TierView:
    return TierView(
        tier.id,
        tier.name,
        tier.rank,
        tier.threshold,
        tier.entry_reward_points,
        tier.entry_reward_code_template,
        members,
    )


def find_tier(session: Session, name: str) -> Tier:
    """The tier called ``name`` (any case); ``NotFoundError`` listing the tiers otherwise."""
    tier = session.scalars(
        select(Tier).where(func.lower(Tier.name) == name.strip().lower())
    ).first()
    if tier is None:
        names = list(session.scalars(select(Tier.name).order_by(Tier.rank)))
        known = ", ".join(names) if names else "none yet"
        raise NotFoundError(
            f"no tier named {name!r} (tiers: {known})",
            hint="add one with memberkit tiers add NAME",
        )
    return tier


def list_tiers(db: Database) -> list[TierView]:
    """All tiers, lowest rank first, with how many members are in each."""
    with db.read() as session:
        counts = dict(
            session.execute(
                select(Member.tier_id, func.count())
                .where(Member.tier_id.is_not(None))
                .group_by(Member.tier_id)
            ).all()
        )
        return [
            _view(tier, int(counts.get(tier.id, 0)))
            for tier in session.scalars(select(Tier).order_by(Tier.rank))
        ]


def add_tier(
    db: Database,
    *,
    name: str,
    rank: int | None = None,
    threshold: int | None = None,
    entry_reward_points: int | None = None,
    entry_reward_code_template: str | None = None,
    now: dt.datetime | None = None,
) -> TierView:
    """Add a tier; ``rank`` defaults to one above the highest."""
    clean = name.strip()
    if not clean:
        raise InvalidValueError("a tier needs a name")
    for label, value in (("threshold", threshold), ("entry reward points", entry_reward_points)):
        if value is not None and value < 0:
            raise InvalidValueError(f"{label} must not be negative, got {value}")
    with db.write() as session:
        if session.scalar(select(Tier.id).where(func.lower(Tier.name) == clean.lower())):
            raise InvalidValueError(f"a tier named {clean!r} already exists")
        if rank is None:
            rank = (session.scalar(select(func.max(Tier.rank))) or 0) + 1
        elif session.scalar(select(Tier.name).where(Tier.rank == rank)):
            taken = session.scalar(select(Tier.name).where(Tier.rank == rank))
            raise InvalidValueError(f"rank {rank} is already taken by tier {taken!r}")
        tier = Tier(
            name=clean,
            rank=rank,
            threshold=threshold,
            entry_reward_points=entry_reward_points,
            entry_reward_code_template=entry_reward_code_template,
            created_at=now or utcnow(),
        )
        session.add(tier)
        session.flush()
        return _view(tier)


def rename_tier(db: Database, *, old: str, new: str) -> TierView:
    """Rename a tier; members and history keep pointing at it."""
    clean = new.strip()
    if not clean:
        raise InvalidValueError("the new tier name is empty")
    try:
        with db.write() as session:
            tier = find_tier(session, old)
            tier.name = clean
            session.flush()
            return _view(tier)
    except IntegrityError:
        raise InvalidValueError(f"a tier named {clean!r} already exists") from None


@dataclass(frozen=True)
class TierMove:
    """The result of moving a member: from, to, and the reward entry if one was posted."""

    member_id: int
    from_tier: str | None
    to_tier: str | None
    changed: bool
    reward_entry_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


def set_member_tier(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    actor: str | None = None,
    member: MemberRef,
    tier: str | None,
    zone: ZoneInfo | None = None,
    reason: str = "set by hand",
    now: dt.datetime | None = None,
) -> TierMove:
    """Move a member to ``tier`` (None: no tier), recording the change in tier history.

    Entering a tier with ``entry_reward_points`` credits them (source ``tier_reward``)
    through the unit of work's ledger book, so the move, its reward and their
    events commit together. Setting the tier a member already has changes nothing.
    """
    with unit_of_work(uow, db, actor=actor, zone=zone, now=now) as work:
        session = work.session
        found = find_member(session, member)
        if work.db.is_postgresql:
            session.execute(select(Member.id).where(Member.id == found.id).with_for_update())
            session.refresh(found)
        target = find_tier(session, tier) if tier is not None else None
        old = session.get(Tier, found.tier_id) if found.tier_id else None
        if (old.id if old else None) == (target.id if target else None):
            return TierMove(found.id, old.name if old else None, old.name if old else None, False)
        change = TierChange(
            member_id=found.id,
            from_tier_id=old.id if old else None,
            to_tier_id=target.id if target else None,
            changed_at=work.now,
            reason=reason,
            changed_by=work.actor,
            batch_id=work.batch_id,
        )
        session.add(change)
        found.tier_id = target.id if target else None
        found.updated_at = work.now
        session.flush()
        reward_id: int | None = None
        if target is not None and target.entry_reward_points:
            # The same posting path as any credit, in this unit of work.
            reward = add_points(
                uow=work,
                member=found.id,
                points=target.entry_reward_points,
                source="tier_reward",
                source_ref=f"tier change {change.id}",
                public_note=f"Welcome to {target.name}",
                key=f"tier_reward:{change.id}",
            )
            assert reward.entry is not None
            reward_id = reward.entry.id
        state = work.book.members.get(found.id) if work.has_book else None
        work.emit(
            TIER_CHANGED,
            found.id,
            {
                "member": MemberIdentity(found.id, found.email, found.shopify_id).to_json(),
                "tier_change_id": change.id,
                "from_tier": old.name if old else None,
                "to_tier": target.name if target else None,
                "reason": reason,
                "reward_entry_id": reward_id,
                "balance_after": state.balance if state else found.points_balance,
            },
        )
        return TierMove(
            found.id,
            old.name if old else None,
            target.name if target else None,
            True,
            reward_id,
        )


def points_earned(
    db: Database, *, member: MemberRef, window_days: int, now: dt.datetime | None = None
) -> int:
    """Points credited in the last ``window_days`` days, less reversals of those credits."""
    moment = now or utcnow()
    since = moment - dt.timedelta(days=window_days)
    with db.read() as session:
        found = find_member(session, member)
        credited = session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
                LedgerEntry.member_id == found.id,
                LedgerEntry.kind == "credit",
                LedgerEntry.effective_at > since,
                LedgerEntry.effective_at <= moment,
            )
        )
        reversed_credits = select(LedgerEntry.id).where(
            LedgerEntry.member_id == found.id,
            LedgerEntry.kind == "credit",
            LedgerEntry.effective_at > since,
            LedgerEntry.effective_at <= moment,
        )
        taken_back = session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
                LedgerEntry.kind == "reversal", LedgerEntry.reverses_id.in_(reversed_credits)
            )
        )
        return int(credited or 0) + int(taken_back or 0)


def qualifying_tier_for(
    db: Database, *, member: MemberRef, window_days: int, now: dt.datetime | None = None
) -> str | None:
    """The tier a member's earned points qualify for (by threshold), or None."""
    earned = points_earned(db, member=member, window_days=window_days, now=now)
    with db.read() as session:
        rules = [TierRule(t.name, t.rank, t.threshold) for t in session.scalars(select(Tier))]
    best = qualifying_tier(rules, earned)
    return best.name if best else None
