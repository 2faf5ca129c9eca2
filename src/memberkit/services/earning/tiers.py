"""Tiers from points earned over a rolling window, recalculated daily.

"Earned" is what orders and other credits gave a member in the last
``tiers.window_days`` days (the issue's ``qualifying_days``): credits, less
order take-backs (debits with source ``order``); points given back by a
refused redemption are not earned. Tiers with a threshold qualify
automatically; tiers without one are assigned by hand and never changed here.

* **Upgrades at once**: a member whose earned points reach a higher tier moves
  up the day they do.
* **Downgrades only at the end of a period**: the caller says when a period
  ends (``downgrades=True``, e.g. on the first day of each month); a member
  below their tier's threshold then moves to the tier they qualify for (or none).

Each move goes through ``services.ledger.tiers.set_member_tier``: tier history,
the entry reward and a ``tier/changed`` event, in one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from memberkit.clock import utcnow
from memberkit.domain.tiers import TierRule, qualifying_tier
from memberkit.services.ledger.tiers import set_member_tier
from memberkit.store.database import Database
from memberkit.store.models import LedgerEntry, Member, Tier

TIERS_ACTOR = "system:tiers"


@dataclass(frozen=True)
class TierRecalculation:
    """What a recalculation did."""

    members: int
    upgraded: int
    downgraded: int


def earned_in_window(
    db: Database, *, window_days: int, now: dt.datetime | None = None
) -> dict[int, int]:
    """Points each member earned in the ``window_days`` days up to ``now`` (members with any)."""
    moment = now or utcnow()
    since = moment - dt.timedelta(days=window_days)
    earning = or_(
        and_(LedgerEntry.kind == "credit", LedgerEntry.source != "redemption"),
        and_(LedgerEntry.kind == "debit", LedgerEntry.source == "order"),
    )
    with db.read() as session:
        rows = session.execute(
            select(LedgerEntry.member_id, func.sum(LedgerEntry.points))
            .where(earning, LedgerEntry.effective_at > since, LedgerEntry.effective_at <= moment)
            .group_by(LedgerEntry.member_id)
        )
        return {int(member): int(points or 0) for member, points in rows}


def recalculate_tiers(
    db: Database,
    *,
    window_days: int,
    zone: ZoneInfo,
    downgrades: bool = False,
    actor: str = TIERS_ACTOR,
    now: dt.datetime | None = None,
) -> TierRecalculation:
    """Move members up (always) and down (only with ``downgrades``) by points earned."""
    moment = now or utcnow()
    earned = earned_in_window(db, window_days=window_days, now=moment)
    with db.read() as session:
        tiers = {t.id: TierRule(t.name, t.rank, t.threshold) for t in session.scalars(select(Tier))}
        current = {int(m): t for m, t in session.execute(select(Member.id, Member.tier_id))}
    if not any(rule.threshold is not None for rule in tiers.values()):
        return TierRecalculation(len(current), 0, 0)
    upgraded = downgraded = 0
    for member_id, tier_id in current.items():
        now_tier = tiers.get(tier_id) if tier_id is not None else None
        if now_tier is not None and now_tier.threshold is None:
            continue  # a tier given by hand stays
        points = earned.get(member_id, 0)
        best = qualifying_tier(tiers.values(), points)
        now_rank = now_tier.rank if now_tier else None
        best_rank = best.rank if best else None
        if best_rank == now_rank:
            continue
        going_up = now_rank is None or (best_rank is not None and best_rank > now_rank)
        if not going_up and not downgrades:
            continue
        set_member_tier(
            db,
            actor=actor,
            member=member_id,
            tier=best.name if best else None,
            zone=zone,
            reason=f"{points} points earned in {window_days} days",
            now=moment,
        )
        if going_up:
            upgraded += 1
        else:
            downgraded += 1
    return TierRecalculation(len(current), upgraded, downgraded)
