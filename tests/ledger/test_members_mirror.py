"""Members from exports: upsert by Shopify id then email, wallets, and rewards-run records."""

from __future__ import annotations

import datetime as dt

from memberkit.domain.members import MemberRecord
from memberkit.services.ledger.members import show_member, upsert_members_from_export
from memberkit.services.rewards.mirror import recent_rewards_runs, record_rewards_run
from memberkit.store.database import Database

NOW = dt.datetime(2027, 3, 1, 6, 0, tzinfo=dt.UTC)


def record(shopify_id: str | None, email: str | None, **kw: object) -> MemberRecord:
    return MemberRecord(shopify_id=shopify_id, email=email, **kw)  # type: ignore[arg-type]


def test_upsert_creates_then_updates_only_what_changed(db: Database) -> None:
    first = upsert_members_from_export(
        db,
        actor="test:suite",
        records=[
            record(
                "1",
                "Ann@Example.com",
                first_name="Ann",
                codes_available='[{"code": "A1", "value": "5.00"}]',
            ),
            record("2", "bo@example.com", first_name="Bo"),
        ],
        now=NOW,
    )
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    second = upsert_members_from_export(
        db,
        actor="test:suite",
        records=[
            record(
                "1",
                "ann@example.com",
                first_name="Ann",
                codes_available='[{"code": "A1", "value": "5.00"}]',
            ),
            record("2", "bo@example.com", first_name="Bo", codes_used='[{"code": "B9"}]'),
        ],
        now=NOW,
    )
    # Ann's email differs only in case: the stored email is updated, the key is the same.
    assert (second.created, second.updated, second.unchanged) == (0, 2, 0)
    third = upsert_members_from_export(
        db, actor="test:suite", records=[record("2", "bo@example.com", first_name="Bo")], now=NOW
    )
    assert (third.created, third.updated, third.unchanged) == (0, 0, 1)
    bo = show_member(db, member="2")
    assert bo.wallet == {"available": [], "used": [{"code": "B9"}], "expired": []}


def test_a_member_without_shopify_id_is_matched_by_email(db: Database) -> None:
    upsert_members_from_export(
        db, actor="test:suite", records=[record(None, "cy@example.com")], now=NOW
    )
    result = upsert_members_from_export(
        db, actor="test:suite", records=[record("77", "CY@example.com", last_name="Lee")], now=NOW
    )
    assert (result.created, result.updated) == (0, 1)
    shown = show_member(db, member="77")
    assert shown.email == "CY@example.com" and shown.last_name == "Lee"


def test_a_rewards_run_mirrors_changed_members_and_is_recorded(db: Database) -> None:
    run, upserted = record_rewards_run(
        db,
        run_date=dt.date(2027, 3, 1),
        started_at=NOW,
        finished_at=NOW + dt.timedelta(seconds=42),
        counts={"customers": 2, "changed": 1},
        output_files=["output/customers_2027-03-01.xlsx"],
        changed_members=[record("5", "dee@example.com", codes_expired='[{"code": "OLD1"}]')],
    )
    assert upserted.created == 1 and run.members_changed == 1
    assert show_member(db, member="dee@example.com").wallet["expired"] == [{"code": "OLD1"}]
    assert [r.to_json()["counts"] for r in recent_rewards_runs(db)] == [
        {"changed": 1, "customers": 2}
    ]
