"""Expiry reminders: a ``points/expiring`` event per member, lot date and notice, once.

For each lot with points left that expires within one of
``events.expiring_notice_days`` (default 30 and 7 days), the smallest notice
it is within is due (``domain.birthdays.due_notice``). One event per member
and expiry date and notice carries the points that expire that day and the
date, so a Klaviyo flow can warn the member; ``expiry_notices`` records each
lot's notice (and the larger notices it makes moot), in the same transaction
as the event, so a re-run never sends it again.

Payload: ``member``, ``points`` (expiring that day), ``expires_on``,
``days_before`` (the notice), ``balance_after`` (the current balance), ``lots``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select

from memberkit.domain.birthdays import due_notice
from memberkit.domain.events import MemberIdentity
from memberkit.events.types import POINTS_EXPIRING
from memberkit.store.bulk import insert_rows
from memberkit.store.database import Database
from memberkit.store.models import ExpiryNotice, Lot, Member
from memberkit.store.unit_of_work import UnitOfWork

ACTOR = "system:reminders"


@dataclass(frozen=True)
class ReminderResult:
    events: int
    lots: int


def send_expiry_reminders(
    db: Database,
    *,
    today: dt.date,
    notice_days: Sequence[int],
    zone: ZoneInfo,
    now: dt.datetime | None = None,
) -> ReminderResult:
    """Write the due ``points/expiring`` events (see the module docstring)."""
    if not notice_days:
        return ReminderResult(0, 0)
    horizon = today + dt.timedelta(days=max(notice_days))
    events = lots = 0
    with UnitOfWork.begin(db, actor=ACTOR, zone=zone, now=now) as uow:
        session = uow.session
        candidates = session.execute(
            select(Lot.entry_id, Lot.member_id, Lot.expires_on, Lot.remaining)
            .where(
                Lot.remaining > 0,
                Lot.expires_on.is_not(None),
                Lot.expires_on >= today,
                Lot.expires_on <= horizon,
            )
            .order_by(Lot.member_id, Lot.expires_on)
        ).all()
        if not candidates:
            return ReminderResult(0, 0)
        sent = {
            (lot, days)
            for lot, days in session.execute(
                select(ExpiryNotice.lot_entry_id, ExpiryNotice.days).where(
                    ExpiryNotice.lot_entry_id.in_([c[0] for c in candidates])
                )
            )
        }
        # (member, expires_on, notice) -> [(lot, remaining)]
        due: dict[tuple[int, dt.date, int], list[tuple[int, int]]] = {}
        for lot_id, member_id, expires_on, remaining in candidates:
            if expires_on is None:  # excluded by the query; for the type checker
                continue
            notice = due_notice(expires_on, today, notice_days)
            if notice is None or (lot_id, notice) in sent:
                continue
            due.setdefault((member_id, expires_on, notice), []).append((lot_id, int(remaining)))
        if not due:
            return ReminderResult(0, 0)
        members = {
            m.id: m
            for m in session.scalars(select(Member).where(Member.id.in_({key[0] for key in due})))
        }
        notices = []
        for (member_id, expires_on, notice), items in due.items():
            member = members[member_id]
            uow.emit(
                POINTS_EXPIRING,
                member_id,
                {
                    "member": MemberIdentity(member.id, member.email, member.shopify_id).to_json(),
                    "points": sum(r for _, r in items),
                    "expires_on": expires_on.isoformat(),
                    "days_before": notice,
                    "balance_after": int(member.points_balance),
                    "lots": [lot for lot, _ in items],
                },
            )
            events += 1
            for lot_id, _ in items:
                lots += 1
                # This notice and every larger one: a late lot never gets the 30-day one
                # after its 7-day one.
                for days in notice_days:
                    if days >= notice and (lot_id, days) not in sent:
                        sent.add((lot_id, days))
                        notices.append(
                            {
                                "lot_entry_id": lot_id,
                                "days": days,
                                "member_id": member_id,
                                "notified_at": uow.now,
                            }
                        )
        table = ExpiryNotice.__table__
        uow.flush()
        insert_rows(session, table, notices)  # type: ignore[arg-type]
    return ReminderResult(events, lots)
