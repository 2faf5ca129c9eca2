"""A member's points as the earning rules see them: available to spend, and pending.

``available`` is the ledger balance (as of an instant, as ``points balance
--as-of`` computes it) plus orders whose pending period ended by then but
that the release has not credited yet. ``pending`` is what orders placed by
then will release later. Take-backs count as they stand now.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from memberkit.clock import utcnow
from memberkit.domain.earning import Balance
from memberkit.services.ledger.members import MemberRef, find_member
from memberkit.services.ledger.points import get_balance
from memberkit.store.database import Database
from memberkit.store.models import OrderEarning


def earning_balance(
    db: Database,
    *,
    member: MemberRef,
    as_of: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> tuple[int, Balance]:
    """(member id, ``Balance``) now or as of ``as_of``."""
    moment = now or utcnow()
    at = as_of or moment
    member_id, available = get_balance(db, member=member, as_of=as_of, now=moment)
    points = OrderEarning.base_points + OrderEarning.bonus_points - OrderEarning.points_taken
    with db.read() as session:
        find_member(session, member_id)
        pending = session.scalar(
            select(func.coalesce(func.sum(points), 0)).where(
                OrderEarning.member_id == member_id,
                OrderEarning.ordered_at <= at,
                OrderEarning.available_from > at,
            )
        )
        due_unreleased = session.scalar(
            select(func.coalesce(func.sum(points), 0)).where(
                OrderEarning.member_id == member_id,
                OrderEarning.state == "pending",
                OrderEarning.available_from <= at,
            )
        )
    return member_id, Balance(available + int(due_unreleased or 0), int(pending or 0))
