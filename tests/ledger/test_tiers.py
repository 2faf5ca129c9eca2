"""Tiers: add, rename, move members with history and entry rewards, earned-points window."""

from __future__ import annotations

import datetime as dt

import pytest

from memberkit.domain.tiers import TierRule, qualifying_tier
from memberkit.errors import InvalidValueError, NotFoundError
from memberkit.services.ledger import points, tiers
from memberkit.services.ledger.members import create_member, show_member
from memberkit.store.database import Database

from .conftest import ZONE

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_the_highest_tier_whose_threshold_is_met_qualifies() -> None:
    rules = [TierRule("Silver", 1, 500), TierRule("Gold", 2, 1000), TierRule("Staff", 9, None)]
    assert qualifying_tier(rules, 499) is None
    assert qualifying_tier(rules, 500) == rules[0]
    assert qualifying_tier(rules, 5000) == rules[1]


def test_tiers_are_ranked_and_renamed(db: Database) -> None:
    tiers.add_tier(db, name="Silver", threshold=500)
    tiers.add_tier(db, name="Gold", threshold=1000, entry_reward_code_template="GOLD-{id}")
    with pytest.raises(InvalidValueError, match="rank 1 is already taken by tier 'Silver'"):
        tiers.add_tier(db, name="Bronze", rank=1)
    tiers.rename_tier(db, old="GOLD", new="Gold Plus")
    assert [(t.rank, t.name) for t in tiers.list_tiers(db)] == [(1, "Silver"), (2, "Gold Plus")]
    with pytest.raises(NotFoundError, match="no tier named 'Gold' \\(tiers: Silver, Gold Plus\\)"):
        tiers.rename_tier(db, old="Gold", new="X")


def test_moving_a_member_records_history_and_posts_the_entry_reward_once(db: Database) -> None:
    member = create_member(db, actor="test:suite", email="vip@example.com", now=NOW)
    tiers.add_tier(db, name="Gold", entry_reward_points=50)
    move = tiers.set_member_tier(
        db, actor="test:suite", member=member, tier="gold", zone=ZONE, reason="spent 1000", now=NOW
    )
    assert move.changed and move.to_tier == "Gold" and move.reward_entry_id is not None
    again = tiers.set_member_tier(
        db, actor="test:suite", member=member, tier="Gold", zone=ZONE, now=NOW
    )
    assert not again.changed and again.reward_entry_id is None
    shown = show_member(db, member="vip@example.com")
    assert shown.tier == "Gold" and shown.points_balance == 50
    assert [(h.from_tier, h.to_tier, h.reason, h.changed_by) for h in shown.tier_history] == [
        (None, "Gold", "spent 1000", "test:suite")
    ]
    reward = points.history(db, member=member)[0]
    assert (reward.source, reward.public_note) == ("tier_reward", "Welcome to Gold")


def test_points_earned_count_credits_in_the_window_less_their_reversals(db: Database) -> None:
    member = create_member(db, actor="test:suite", email="earn@example.com", now=NOW)
    old = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    points.add_points(
        db, actor="test:suite", member=member, points=400, zone=ZONE, effective_at=old, now=NOW
    )
    points.add_points(db, actor="test:suite", member=member, points=300, zone=ZONE, now=NOW)
    taken = points.add_points(
        db, actor="test:suite", member=member, points=100, zone=ZONE, now=NOW
    ).entry
    assert taken is not None
    points.reverse_entry(db, actor="test:suite", entry_id=taken.id, zone=ZONE, now=NOW)
    points.deduct_points(db, actor="test:suite", member=member, points=50, zone=ZONE, now=NOW)
    earned = tiers.points_earned(db, member=member, window_days=365, now=NOW)
    assert earned == 300
    tiers.add_tier(db, name="Silver", threshold=300)
    assert tiers.qualifying_tier_for(db, member=member, window_days=365, now=NOW) == "Silver"
