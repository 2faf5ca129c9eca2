"""Tier settings changed in the web admin: reorder, entry rewards, rename, add; all audited."""

from __future__ import annotations

from sqlalchemy import func, select

from memberkit.errors import InvalidValueError, NotFoundError
from memberkit.services.ledger import tiers as tier_service
from memberkit.services.ledger.tiers import TierView
from memberkit.services.users import record_audit
from memberkit.store.database import Database
from memberkit.store.models import Tier


def add_tier(
    db: Database, *, name: str, threshold: int | None, entry_reward_points: int | None, actor: str
) -> TierView:
    """Add a tier above the others."""
    view = tier_service.add_tier(
        db, name=name, threshold=threshold, entry_reward_points=entry_reward_points
    )
    with db.write() as session:
        record_audit(
            session, actor=actor, action="tier.add", target=view.name, details=view.to_json()
        )
    return view


def rename_tier(db: Database, *, tier_id: int, new: str, actor: str) -> TierView:
    """Rename a tier (members and history keep pointing at it)."""
    old = _get(db, tier_id).name
    view = tier_service.rename_tier(db, old=old, new=new)
    with db.write() as session:
        record_audit(
            session, actor=actor, action="tier.rename", target=old, details={"to": view.name}
        )
    return view


def set_tier_values(
    db: Database,
    *,
    tier_id: int,
    threshold: int | None,
    entry_reward_points: int | None,
    actor: str,
) -> None:
    """Change a tier's threshold and entry reward points."""
    for label, value in (("threshold", threshold), ("entry reward points", entry_reward_points)):
        if value is not None and value < 0:
            raise InvalidValueError(f"{label} must not be negative, got {value}")
    with db.write() as session:
        tier = session.get(Tier, tier_id)
        if tier is None:
            raise NotFoundError(f"no tier #{tier_id}")
        before = {"threshold": tier.threshold, "entry_reward_points": tier.entry_reward_points}
        tier.threshold = threshold
        tier.entry_reward_points = entry_reward_points
        record_audit(
            session,
            actor=actor,
            action="tier.update",
            target=tier.name,
            details={
                "before": before,
                "threshold": threshold,
                "entry_reward_points": entry_reward_points,
            },
        )


def move_tier(db: Database, *, tier_id: int, direction: str, actor: str) -> None:
    """Swap a tier's rank with the next one up (``up``) or down (``down``)."""
    if direction not in ("up", "down"):
        raise InvalidValueError(f"direction must be up or down, got {direction!r}")
    with db.write() as session:
        tier = session.get(Tier, tier_id)
        if tier is None:
            raise NotFoundError(f"no tier #{tier_id}")
        query = select(Tier).order_by(Tier.rank.desc() if direction == "down" else Tier.rank)
        query = query.where(Tier.rank < tier.rank if direction == "down" else Tier.rank > tier.rank)
        other = session.scalars(query.limit(1)).first()
        if other is None:
            return
        mine, theirs = tier.rank, other.rank
        # Ranks are unique: park one tier on a free rank while they swap.
        spare = (session.scalar(select(func.max(Tier.rank))) or 0) + 1
        tier.rank = spare
        session.flush()
        other.rank = mine
        session.flush()
        tier.rank = theirs
        record_audit(
            session,
            actor=actor,
            action="tier.move",
            target=tier.name,
            details={"from": mine, "to": theirs, "swapped_with": other.name},
        )


def _get(db: Database, tier_id: int) -> Tier:
    with db.read() as session:
        tier = session.get(Tier, tier_id)
        if tier is None:
            raise NotFoundError(f"no tier #{tier_id}")
        return tier
