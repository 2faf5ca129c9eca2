"""Tiers from points earned in the rolling window: upgrades at once, downgrades at period end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from tests.earning.conftest import order_rows, write_orders

from memberkit.config import EarningSettings
from memberkit.services.earning.export import earn_from_export
from memberkit.services.earning.tiers import earned_in_window, recalculate_tiers
from memberkit.services.ledger.members import create_member
from memberkit.services.ledger.tiers import add_tier, set_member_tier
from memberkit.store.database import Database
from memberkit.store.models import Member, OutboxEvent, Tier

ZONE = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def tier_of(db: Database, email: str) -> str | None:
    with db.read() as session:
        member = session.scalars(select(Member).where(Member.email_key == email)).one()
        tier = session.get(Tier, member.tier_id) if member.tier_id else None
        return tier.name if tier else None


def earn(db: Database, tmp_path: Path, orders: list[list[list[str]]], name: str) -> None:
    earn_from_export(
        db,
        path=write_orders(tmp_path / name, orders),
        earning=EarningSettings(pending_days=0),
        currency="GBP",
        zone=ZONE,
        actor="test:suite",
        output_dir=tmp_path,
        now=NOW,
    )


def test_members_move_up_at_once_and_down_only_at_the_end_of_a_period(
    db: Database, tmp_path: Path
) -> None:
    add_tier(db, name="Silver", rank=1, threshold=100)
    add_tier(db, name="Gold", rank=2, threshold=500)
    add_tier(db, name="Staff", rank=3)  # no threshold: given by hand only
    for email in ("ann@example.com", "bob@example.com", "cat@example.com"):
        create_member(db, actor="test:suite", email=email)
    set_member_tier(db, actor="test:suite", member="cat@example.com", tier="Staff", zone=ZONE)
    earn(
        db,
        tmp_path,
        [
            order_rows("#1", "ann@example.com", "600.00", created="2026-11-01 10:00:00 +0000"),
            order_rows("#2", "bob@example.com", "150.00", created="2026-11-01 10:00:00 +0000"),
        ],
        "a.csv",
    )
    result = recalculate_tiers(db, window_days=365, zone=ZONE, now=NOW)
    assert (result.upgraded, result.downgraded) == (2, 0)
    assert (tier_of(db, "ann@example.com"), tier_of(db, "bob@example.com")) == ("Gold", "Silver")
    assert tier_of(db, "cat@example.com") == "Staff"

    # Ann's order is refunded: she now qualifies for Silver only, but keeps Gold
    # until the period ends.
    refund = order_rows(
        "#1", "ann@example.com", "600.00", status="partially_refunded", refunded="300.00"
    )
    earn(db, tmp_path, [refund], "b.csv")
    assert earned_in_window(db, window_days=365, now=NOW)[1] == 300
    assert recalculate_tiers(db, window_days=365, zone=ZONE, now=NOW).downgraded == 0
    assert tier_of(db, "ann@example.com") == "Gold"
    at_period_end = recalculate_tiers(db, window_days=365, zone=ZONE, now=NOW, downgrades=True)
    assert at_period_end.downgraded == 1 and tier_of(db, "ann@example.com") == "Silver"
    with db.read() as session:
        moves = [e for e in session.scalars(select(OutboxEvent)) if e.event_type == "tier/changed"]
    assert len(moves) == 4  # Staff by hand, Gold, Silver, Gold -> Silver

    # Points earned long ago no longer count.
    later = NOW + dt.timedelta(days=400)
    recalculate_tiers(db, window_days=365, zone=ZONE, now=later, downgrades=True)
    assert tier_of(db, "bob@example.com") is None and tier_of(db, "cat@example.com") == "Staff"
