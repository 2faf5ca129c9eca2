"""The daily schedule: birthdays once a year, expiry reminders once per lot and notice, tiers
recalculated from thresholds, and a run whose failed step does not stop the others."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update
from tests.ledger.conftest import ZONE

from memberkit.config import Settings, load_settings
from memberkit.domain.birthdays import birthday_in, due_notice, is_birthday
from memberkit.events.outbox import list_events
from memberkit.events.reminders import send_expiry_reminders
from memberkit.services.daily import award_birthdays, recalculate_tiers, run_daily
from memberkit.services.ledger import points, tiers
from memberkit.services.ledger.members import create_member
from memberkit.store.database import Database
from memberkit.store.models import Batch, Member, Tier

NOW = dt.datetime(2027, 2, 28, 9, 0, tzinfo=dt.UTC)
ACTOR = "cli:jo"


def test_a_29_february_birthday_is_on_28_february_in_other_years() -> None:
    leapling = dt.date(2000, 2, 29)
    assert birthday_in(2027, leapling) == dt.date(2027, 2, 28)
    assert birthday_in(2028, leapling) == dt.date(2028, 2, 29)
    assert not is_birthday(leapling, dt.date(2028, 2, 28))


@given(st.dates(min_value=dt.date(1920, 1, 1)), st.integers(1990, 2100))
def test_every_birthday_falls_on_exactly_one_day_a_year(birthday: dt.date, year: int) -> None:
    day = birthday_in(year, birthday)
    assert day.year == year
    assert is_birthday(birthday, day)


def test_the_smallest_notice_a_lot_is_within_is_due() -> None:
    today = dt.date(2027, 3, 1)
    assert due_notice(dt.date(2027, 3, 21), today, [30, 7]) == 30
    assert due_notice(dt.date(2027, 3, 6), today, [30, 7]) == 7
    assert due_notice(dt.date(2027, 5, 1), today, [30, 7]) is None
    assert due_notice(dt.date(2027, 2, 27), today, [30, 7]) is None


def _settings(**env: str) -> Settings:
    return load_settings(environ={f"MEMBERKIT_{k}": v for k, v in env.items()})


def _member(db: Database, email: str, birthday: dt.date | None = None) -> int:
    member = create_member(db, actor=ACTOR, email=email, shopify_id=None, now=NOW)
    if birthday:
        with db.write() as session:
            session.execute(update(Member).where(Member.id == member).values(birthday=birthday))
    return member


def test_birthday_points_are_given_once_a_year_including_leaplings(db: Database) -> None:
    settings = _settings(BIRTHDAY__POINTS="100")
    today = dt.date(2027, 2, 28)
    ann = _member(db, "ann@example.com", dt.date(1990, 2, 28))
    leap = _member(db, "leap@example.com", dt.date(1992, 2, 29))
    other = _member(db, "bob@example.com", dt.date(1990, 3, 1))
    assert award_birthdays(db, settings, today=today, now=NOW) == {"members": 2, "points": 200}
    assert award_birthdays(db, settings, today=today, now=NOW)["members"] == 0
    balances = [points.get_balance(db, member=m)[1] for m in (ann, leap, other)]
    assert balances == [100, 100, 0]
    added = [e.payload for e in list_events(db) if e.event_type == "points/added"]
    assert {a["source"] for a in added} == {"birthday"}


def test_expiry_reminders_go_once_per_lot_and_notice(db: Database) -> None:
    member = _member(db, "ann@example.com")
    today = dt.date(2027, 3, 1)
    points.add_points(
        db,
        actor=ACTOR,
        member=member,
        points=40,
        expires_on=dt.date(2027, 3, 21),
        zone=ZONE,
        now=NOW,
    )
    points.add_points(
        db,
        actor=ACTOR,
        member=member,
        points=5,
        expires_on=dt.date(2027, 3, 21),
        zone=ZONE,
        now=NOW,
    )
    first = send_expiry_reminders(db, today=today, notice_days=[30, 7], zone=ZONE)
    assert (first.events, first.lots) == (1, 2)
    assert send_expiry_reminders(db, today=today, notice_days=[30, 7], zone=ZONE).events == 0
    later = send_expiry_reminders(db, today=dt.date(2027, 3, 15), notice_days=[30, 7], zone=ZONE)
    assert later.events == 1
    reminders = [e.payload for e in reversed(list_events(db)) if e.event_type == "points/expiring"]
    assert [(r["points"], r["expires_on"], r["days_before"]) for r in reminders] == [
        (45, "2027-03-21", 30),
        (45, "2027-03-21", 7),
    ]
    assert reminders[0]["member"]["email"] == "ann@example.com"


def test_a_lot_first_seen_inside_the_7_day_notice_gets_only_that_one(db: Database) -> None:
    member = _member(db, "ann@example.com")
    points.add_points(
        db,
        actor=ACTOR,
        member=member,
        points=9,
        expires_on=dt.date(2027, 3, 4),
        zone=ZONE,
        now=NOW,
    )
    today = dt.date(2027, 3, 1)
    assert send_expiry_reminders(db, today=today, notice_days=[30, 7], zone=ZONE).events == 1
    assert send_expiry_reminders(db, today=today, notice_days=[30, 7], zone=ZONE).events == 0


def test_tiers_follow_thresholds_but_hand_set_tiers_stay(db: Database) -> None:
    tiers.add_tier(db, name="Silver", rank=1, threshold=100)
    tiers.add_tier(db, name="Gold", rank=2, threshold=500)
    tiers.add_tier(db, name="Staff", rank=3)
    keen = _member(db, "keen@example.com")
    staff = _member(db, "staff@example.com")
    points.add_points(db, actor=ACTOR, member=keen, points=600, zone=ZONE, now=NOW)
    tiers.set_member_tier(db, actor=ACTOR, member=staff, tier="Staff", now=NOW)
    result = recalculate_tiers(db, _settings(), now=NOW + dt.timedelta(hours=1))
    assert result == {"moved_up": 1, "moved_down": 0}
    with db.read() as session:
        names = dict(
            session.execute(
                select(Member.email, Tier.name).join(Tier, Tier.id == Member.tier_id)
            ).all()
        )
    assert names == {"keen@example.com": "Gold", "staff@example.com": "Staff"}
    # A year later the points no longer count: Gold is lost, Staff is not.
    later = recalculate_tiers(db, _settings(), now=NOW + dt.timedelta(days=400))
    assert later == {"moved_up": 0, "moved_down": 1}


def test_tiers_without_thresholds_are_not_recalculated(db: Database) -> None:
    tiers.add_tier(db, name="Staff", rank=1)
    assert recalculate_tiers(db, _settings(), now=NOW) is None


def test_a_failed_step_is_recorded_and_the_later_steps_still_run(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    member = _member(db, "ann@example.com", dt.date(1980, 2, 28))
    points.add_points(
        db,
        actor=ACTOR,
        member=member,
        points=10,
        expires_on=dt.date(2027, 2, 1),
        zone=ZONE,
        now=NOW - dt.timedelta(days=60),
    )
    config = tmp_path / "memberkit.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n[birthday]\npoints = 50\n')
    settings = load_settings(config, environ={})
    # No customers export in input/: the rewards update fails; everything else runs.
    result = run_daily(settings, today=dt.date(2027, 2, 28))
    status = {s.name: s.status for s in result.steps}
    assert status == {
        "rewards": "failed",
        "expiry": "done",
        "birthdays": "done",
        "tiers": "skipped",
        "reminders": "done",
        "shopify_push": "skipped",
        "delivery": "skipped",
    }
    assert result.exit_code == 3
    assert points.get_balance(db, member=member)[1] == 50  # 10 expired, 50 for the birthday
    with db.read() as session:
        batch = session.get(Batch, result.batch_id)
    assert batch is not None and batch.kind == "daily" and batch.state == "failed"
    assert next(s["name"] for s in json.loads(batch.details)["steps"]) == "rewards"


def test_unknown_steps_to_skip_are_refused() -> None:
    from memberkit.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="the steps are"):
        run_daily(_settings(), skip=["birthday"])
