"""Undo: reversals, tiers and profiles restored, spent points listed and left, twice a no-op."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from tests.imports.conftest import ACTOR, write_csv
from tests.imports.test_apply import balance, run

from memberkit.config import Settings
from memberkit.services.imports import get_import, undo_import
from memberkit.services.ledger.points import deduct_points
from memberkit.services.ledger.tiers import add_tier
from memberkit.store.database import Database
from memberkit.store.models import LedgerEntry, Member


def test_undo_reverses_every_row_and_lists_spent_points(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    record = run(
        settings,
        members,
        "points-add",
        write_csv(tmp_path / "a.csv", "Email,Points\nm1@example.com,100\nm2@example.com,50\n"),
    )
    deduct_points(
        members, actor=ACTOR, member="m2@example.com", points=10, zone=settings.processing.zone
    )
    outcome = undo_import(members, settings, record.id, actor=ACTOR)
    assert outcome.reversed_entries == 1
    assert outcome.left == [
        "row 3: m2@example.com: cannot reverse entry 2: 10 of its 50 points are already spent"
    ]
    assert "1 rows left as they are" in outcome.summary()
    assert balance(members, "m1@example.com") == 0
    assert balance(members, "m2@example.com") == 40
    assert get_import(members, record.id).status == "reverted"
    again = undo_import(members, settings, record.id, actor=ACTOR)
    assert again.already_undone and again.reversed_entries == 0
    with members.read() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "reversal")
            )
            == 1
        )


def test_undo_of_a_deduct_gives_the_points_back(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    run(
        settings,
        members,
        "points-add",
        write_csv(tmp_path / "a.csv", "Email,Points\nm1@example.com,100\n"),
    )
    record = run(
        settings,
        members,
        "points-deduct",
        write_csv(tmp_path / "d.csv", "Email,Points\nm1@example.com,30\n"),
    )
    assert balance(members, "m1@example.com") == 70
    undo_import(members, settings, record.id, actor=ACTOR)
    assert balance(members, "m1@example.com") == 100


def test_undo_restores_tiers_from_history_and_reverses_their_rewards(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    add_tier(members, name="Silver")
    add_tier(members, name="Gold", entry_reward_points=200)
    run(
        settings,
        members,
        "tiers",
        write_csv(tmp_path / "s.csv", "Email,Tier Name\nm1@example.com,Silver\n"),
    )
    record = run(
        settings,
        members,
        "tiers",
        write_csv(
            tmp_path / "g.csv", "Email,Tier Name\nm1@example.com,Gold\nm2@example.com,Gold\n"
        ),
        issue_tier_rewards=True,
    )
    assert balance(members, "m1@example.com") == 200
    outcome = undo_import(members, settings, record.id, actor=ACTOR)
    assert (outcome.restored_tiers, outcome.reversed_entries) == (2, 2)
    with members.read() as session:
        found = session.execute(select(Member.email, Member.tier_id).where(Member.id <= 2))
        tiers = {str(email): tier for email, tier in found.all()}
    assert balance(members, "m1@example.com") == 0
    assert tiers["m2@example.com"] is None
    assert tiers["m1@example.com"] is not None  # back to Silver


def test_undo_restores_profiles_field_by_field(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    run(
        settings,
        members,
        "profiles",
        write_csv(tmp_path / "p.csv", "Email,Birthday,Gender\nm1@example.com,1980-01-02,man\n"),
    )
    record = run(
        settings,
        members,
        "profiles",
        write_csv(
            tmp_path / "p2.csv",
            "Email,Birthday,Gender\nm1@example.com,1990-05-17,woman\nm2@example.com,,transgender\n",
        ),
    )
    outcome = undo_import(members, settings, record.id, actor=ACTOR)
    assert outcome.restored_profiles == 2
    with members.read() as session:
        rows = {
            m.email: (str(m.birthday) if m.birthday else None, m.gender)
            for m in session.scalars(select(Member).where(Member.id <= 2))
        }
    assert rows == {"m1@example.com": ("1980-01-02", "man"), "m2@example.com": (None, None)}
