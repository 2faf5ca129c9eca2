"""The outbox: every ledger change, tier move and profile change writes its event in the same
transaction, with its actor and batch; a rollback leaves neither the change nor the event."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.ledger.conftest import ZONE

from memberkit.domain.ledger import InsufficientPointsError
from memberkit.domain.members import MemberRecord
from memberkit.events.outbox import list_events
from memberkit.services.ledger import points, tiers
from memberkit.services.ledger.members import create_member, upsert_members_from_export
from memberkit.store.database import Database
from memberkit.store.models import Batch, LedgerEntry, OutboxEvent, ProfileChange, TierChange
from memberkit.store.unit_of_work import UnitOfWork

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
ACTOR = "cli:jo"
MEMBERKIT = (sys.executable, "-m", "memberkit")


@pytest.fixture
def member(db: Database) -> int:
    return create_member(db, actor=ACTOR, email="Ann@Example.com", shopify_id="7001", now=NOW)


def counts(db: Database) -> tuple[int, int, int, int]:
    """(ledger entries, outbox events, tier changes, profile changes)."""
    with db.read() as s:
        return (
            int(s.scalar(select(func.count()).select_from(LedgerEntry)) or 0),
            int(s.scalar(select(func.count()).select_from(OutboxEvent)) or 0),
            int(s.scalar(select(func.count()).select_from(TierChange)) or 0),
            int(s.scalar(select(func.count()).select_from(ProfileChange)) or 0),
        )


def events_of(db: Database, event_type: str) -> list[dict[str, Any]]:
    return [e.payload for e in reversed(list_events(db, limit=1000)) if e.event_type == event_type]


def test_creating_a_member_writes_its_profile_change_and_event(db: Database, member: int) -> None:
    (created,) = events_of(db, "profile/updated")
    assert created["member"] == {"id": member, "email": "Ann@Example.com", "shopify_id": "7001"}
    assert created["created"] is True
    assert created["changed"]["email"] == {"before": None, "after": "Ann@Example.com"}
    assert counts(db) == (0, 1, 0, 1)


def test_adding_points_writes_a_points_added_event_with_member_amount_and_balance(
    db: Database, member: int
) -> None:
    points.add_points(db, actor=ACTOR, member=member, points=120, zone=ZONE, now=NOW)
    points.deduct_points(
        db, actor=ACTOR, member=member, points=20, zone=ZONE, source="api", now=NOW
    )
    (added,) = events_of(db, "points/added")
    assert added["member"] == {"id": member, "email": "Ann@Example.com", "shopify_id": "7001"}
    assert (added["points"], added["source"], added["balance_after"]) == (120, "manual", 120)
    (deducted,) = events_of(db, "points/deducted")
    assert (deducted["points"], deducted["source"], deducted["balance_after"]) == (-20, "api", 100)
    event = list_events(db, limit=1)[0]
    assert (event.actor, event.member_id, event.batch_id) == (ACTOR, member, None)
    with db.read() as s:
        actors = set(s.scalars(select(LedgerEntry.actor)))
    assert actors == {ACTOR}


def test_expiry_writes_points_expired_as_the_system(db: Database, member: int) -> None:
    points.add_points(
        db,
        actor=ACTOR,
        member=member,
        points=80,
        zone=ZONE,
        expires_on=dt.date(2027, 3, 5),
        now=NOW,
    )
    points.expire_points(db, zone=ZONE, today=dt.date(2027, 3, 10), now=NOW)
    (expired,) = events_of(db, "points/expired")
    assert (expired["points"], expired["balance_after"]) == (-80, 0)
    assert list_events(db, limit=1)[0].actor == "system:expiry"


def test_a_rollback_leaves_neither_the_postings_nor_their_events(db: Database, member: int) -> None:
    before = counts(db)
    with (
        pytest.raises(InsufficientPointsError),
        UnitOfWork.begin(db, actor=ACTOR, zone=ZONE, now=NOW) as uow,
    ):
        points.add_points(uow=uow, member=member, points=50)
        points.deduct_points(uow=uow, member=member, points=500)
    assert counts(db) == before
    assert points.get_balance(db, member=member)[1] == 0


def test_a_tier_move_its_reward_and_other_postings_commit_together(
    db: Database, member: int
) -> None:
    tiers.add_tier(db, name="Gold", entry_reward_points=50)
    with UnitOfWork.begin(db, actor=ACTOR, zone=ZONE, now=NOW) as uow:
        points.add_points(uow=uow, member=member, points=10)
        move = tiers.set_member_tier(uow=uow, member=member, tier="Gold", reason="spent 1000")
        points.add_points(uow=uow, member=member, points=5)
    assert move.reward_entry_id is not None
    assert points.get_balance(db, member=member)[1] == 65
    (changed,) = events_of(db, "tier/changed")
    assert (changed["from_tier"], changed["to_tier"], changed["reward_entry_id"]) == (
        None,
        "Gold",
        move.reward_entry_id,
    )
    assert changed["balance_after"] == 60
    assert [e["balance_after"] for e in events_of(db, "points/added")] == [10, 60, 65]


def test_a_failed_tier_move_rolls_back_its_reward_and_event(db: Database, member: int) -> None:
    tiers.add_tier(db, name="Gold", entry_reward_points=50)
    before = counts(db)
    with pytest.raises(RuntimeError), UnitOfWork.begin(db, actor=ACTOR, zone=ZONE, now=NOW) as uow:
        tiers.set_member_tier(uow=uow, member=member, tier="Gold")
        raise RuntimeError("crash after the move")
    assert counts(db) == before


def test_work_in_a_batch_records_the_batch_on_entries_and_events(db: Database, member: int) -> None:
    with db.write() as s:
        batch = Batch(kind="import", label="test", actor=ACTOR, started_at=NOW)
        s.add(batch)
        s.flush()
        batch_id = batch.id
    with UnitOfWork.begin(db, actor=ACTOR, batch=batch_id, zone=ZONE, now=NOW) as uow:
        points.add_points(uow=uow, member=member, points=7)
    with db.read() as s:
        assert set(s.scalars(select(LedgerEntry.batch_id))) == {batch_id}
    assert list_events(db, limit=1)[0].batch_id == batch_id


def test_a_profile_update_keeps_the_previous_values_for_undo(db: Database, member: int) -> None:
    upsert_members_from_export(
        db,
        actor="cli:importer",
        records=[MemberRecord(shopify_id="7001", email="Ann@Example.com", first_name="Ann")],
        now=NOW,
    )
    upsert_members_from_export(
        db,
        actor="cli:importer",
        records=[MemberRecord(shopify_id="7001", email="Ann@Example.com", first_name="Anne")],
        now=NOW,
    )
    with db.read() as s:
        rows = list(s.scalars(select(ProfileChange).order_by(ProfileChange.id)))
    last = rows[-1]
    assert json.loads(last.before) == {"first_name": "Ann"}
    assert json.loads(last.after) == {"first_name": "Anne"}
    assert last.actor == "cli:importer"
    update = events_of(db, "profile/updated")[-1]
    assert update["changed"] == {"first_name": {"before": "Ann", "after": "Anne"}}
    assert update["created"] is False


def test_an_unchanged_profile_writes_no_history_or_event(db: Database, member: int) -> None:
    record = MemberRecord(shopify_id="7001", email="Ann@Example.com")
    before = counts(db)
    upsert_members_from_export(db, actor=ACTOR, records=[record], now=NOW)
    assert counts(db) == before


def test_events_list_shows_the_newest_first_as_json_with_a_limit(
    database_url: str, db: Database, member: int, tmp_path: Path
) -> None:
    points.add_points(db, actor=ACTOR, member=member, points=3, zone=ZONE, now=NOW)
    config = tmp_path / "memberkit.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    result = subprocess.run(
        [*MEMBERKIT, "events", "list", "--json", "--limit", "1", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (shown,) = json.loads(result.stdout)
    assert shown["event_type"] == "points/added" and shown["payload"]["points"] == 3
    table = subprocess.run(
        [*MEMBERKIT, "events", "list", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert [line.split("\t")[2] for line in lines] == ["points/added", "profile/updated"]
    assert lines[0].split("\t")[4] == ACTOR


def test_the_fast_payload_text_is_exactly_the_payload_as_json() -> None:
    from memberkit.domain.events import (
        MemberIdentity,
        entry_payload,
        entry_payload_json,
        member_json,
    )

    for identity, ref, expires in (
        (MemberIdentity(7, 'Zoë "Q" <z@example.com>', None), 'lot "1"\n', dt.date(2027, 1, 2)),
        (MemberIdentity(8, None, "6601"), None, None),
    ):
        fields = {
            "entry_id": 5,
            "kind": "credit",
            "points": -12,
            "source": "import",
            "source_ref": ref,
            "expires_on": expires,
            "balance_after": -3,
            "debt_after": 3,
        }
        expected = json.dumps(entry_payload(identity, **fields), sort_keys=True, ensure_ascii=False)  # type: ignore[arg-type]
        assert entry_payload_json(member_json(identity), **fields) == expected  # type: ignore[arg-type]
