"""``memberkit daily``: the day's jobs in order, each recorded with its outcome.

The steps, in order:

1. ``rewards``: the rewards update (``services.rewards.run``);
2. ``expiry``: points past their date expire (``points/expired``);
3. ``birthdays``: members whose birthday is today in ``processing.timezone``
   get ``birthday.points`` once a year (29 February birthdays on 28 February in
   other years); skipped when ``birthday.points`` is 0;
4. ``tiers``: tier recalculation, when some tier has a threshold: each member
   whose tier is automatic (none, or one with a threshold) moves to the tier
   the points earned over ``tiers.window_days`` qualify for (up or down);
   tiers without a threshold are set by hand and left alone;
5. ``reminders``: ``points/expiring`` events (``events.reminders``);
6. ``shopify_push``: members changed since the daily run started, when
   ``shopify.push_mode`` is ``api`` or ``both``;
7. ``delivery``: pending events to the enabled sinks, once.

No step depends on an earlier one succeeding (each reads the database as it
is), so a failed step is recorded and the next ones still run; the run exits 3
when any step failed. The run is a ``batches`` row (``kind = 'daily'``) whose
``details`` hold every step's status, time and counts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import extract, func, select, update
from sqlalchemy.orm import aliased

from memberkit.clock import utcnow
from memberkit.config import Settings
from memberkit.domain.birthdays import birthday_keys
from memberkit.domain.tiers import TierRule, qualifying_tier
from memberkit.errors import InvalidValueError, LockedError, MemberkitError
from memberkit.events.reminders import send_expiry_reminders
from memberkit.store.database import Database, open_database
from memberkit.store.models import Batch, BirthdayAward, LedgerEntry, Member, Tier
from memberkit.store.unit_of_work import UnitOfWork

log = logging.getLogger("memberkit.daily")

STEPS = ("rewards", "expiry", "birthdays", "tiers", "reminders", "shopify_push", "delivery")
ACTOR = "system:daily"
EXIT_STEP_FAILED = 3
CHUNK = 500


@dataclass
class StepOutcome:
    """One step: ``done``, ``failed`` or ``skipped``, with why, how long and what it counted."""

    name: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    counts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
            "counts": self.counts,
        }


@dataclass
class DailyResult:
    """Every step's outcome and the run's ``batches`` id."""

    run_date: dt.date
    batch_id: int
    steps: list[StepOutcome]

    @property
    def exit_code(self) -> int:
        return EXIT_STEP_FAILED if any(s.status == "failed" for s in self.steps) else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "run_date": self.run_date.isoformat(),
            "batch_id": self.batch_id,
            "exit_code": self.exit_code,
            "steps": [s.to_json() for s in self.steps],
        }


class StepFailed(Exception):
    """A step finished but did not fully succeed (e.g. some rows could not be written)."""

    def __init__(self, detail: str, counts: dict[str, Any]) -> None:
        super().__init__(detail)
        self.counts = counts


# ----- birthdays -------------------------------------------------------------


def award_birthdays(
    db: Database, settings: Settings, *, today: dt.date, now: dt.datetime
) -> dict[str, int]:
    """Give today's birthday members their points, once a year; counts."""
    from memberkit.services.ledger.points import add_points

    amount = settings.birthday.points
    days = settings.birthday.expires_after_days
    expires_on = today + dt.timedelta(days=days) if days else None
    keys = birthday_keys(today)
    with db.read() as session:
        query = select(Member.id).where(Member.birthday.is_not(None))
        conditions = [
            (extract("month", Member.birthday) == month) & (extract("day", Member.birthday) == day)
            for month, day in keys
        ]
        match = conditions[0] if len(conditions) == 1 else conditions[0] | conditions[1]
        already = select(BirthdayAward.member_id).where(BirthdayAward.year == today.year)
        ids = list(
            session.scalars(query.where(match, Member.id.not_in(already)).order_by(Member.id))
        )
    awarded = 0
    for start in range(0, len(ids), CHUNK):
        with UnitOfWork.begin(
            db, actor="system:birthday", zone=settings.processing.zone, now=now
        ) as uow:
            awards = []
            for member_id in ids[start : start + CHUNK]:
                result = add_points(
                    uow=uow,
                    member=member_id,
                    points=amount,
                    expires_on=expires_on,
                    source="birthday",
                    source_ref=f"birthday {today.year}",
                    public_note="Happy birthday!",
                    key=f"birthday:{member_id}:{today.year}",
                )
                awards.append(
                    BirthdayAward(
                        member_id=member_id,
                        year=today.year,
                        entry_id=result.entry.id if result.entry else None,
                        awarded_at=uow.now,
                    )
                )
                awarded += 1
            # The entries first (the book writes them at flush), then the awards naming them.
            uow.flush()
            uow.session.add_all(awards)
    return {"members": awarded, "points": awarded * amount}


# ----- tiers -------------------------------------------------------------------


def earned_points(db: Database, *, since: dt.datetime, until: dt.datetime) -> dict[int, int]:
    """Points credited per member in ``(since, until]``, less reversals of those credits."""
    credit = aliased(LedgerEntry)
    window = (
        (credit.kind == "credit") & (credit.effective_at > since) & (credit.effective_at <= until)
    )
    with db.read() as session:
        earned = {
            member_id: int(total)
            for member_id, total in session.execute(
                select(credit.member_id, func.sum(credit.points))
                .where(window)
                .group_by(credit.member_id)
            )
        }
        for member_id, taken in session.execute(
            select(credit.member_id, func.sum(LedgerEntry.points))
            .join(credit, credit.id == LedgerEntry.reverses_id)
            .where(LedgerEntry.kind == "reversal", window)
            .group_by(credit.member_id)
        ):
            earned[member_id] = earned.get(member_id, 0) + int(taken)
    return earned


def recalculate_tiers(
    db: Database, settings: Settings, *, now: dt.datetime
) -> dict[str, int] | None:
    """Move automatic-tier members to the tier they qualify for; None without thresholds."""
    from memberkit.services.ledger.tiers import set_member_tier

    with db.read() as session:
        tiers = list(session.scalars(select(Tier)))
        members = session.execute(select(Member.id, Member.tier_id)).all()
    rules = [TierRule(t.name, t.rank, t.threshold) for t in tiers]
    if not any(rule.threshold is not None for rule in rules):
        return None
    by_id = {t.id: t for t in tiers}
    window = settings.tiers.window_days
    earned = earned_points(db, since=now - dt.timedelta(days=window), until=now)
    moves: list[tuple[int, str | None, int]] = []
    for member_id, tier_id in members:
        current = by_id.get(tier_id) if tier_id else None
        if current is not None and current.threshold is None:
            continue  # a tier set by hand
        points = earned.get(member_id, 0)
        target = qualifying_tier(rules, points)
        if (target.name if target else None) != (current.name if current else None):
            moves.append((member_id, target.name if target else None, points))
    up = down = 0
    rank = {t.name: t.rank for t in tiers}
    for start in range(0, len(moves), CHUNK):
        with UnitOfWork.begin(
            db, actor="system:tiers", zone=settings.processing.zone, now=now
        ) as uow:
            for member_id, tier, points in moves[start : start + CHUNK]:
                move = set_member_tier(
                    uow=uow,
                    member=member_id,
                    tier=tier,
                    reason=f"earned {points} points in {window} days",
                )
                if move.changed:
                    before = rank.get(move.from_tier or "", -1)
                    after = rank.get(move.to_tier or "", -1)
                    up += after > before
                    down += after < before
    return {"moved_up": up, "moved_down": down}


# ----- the run -----------------------------------------------------------------


def _start_batch(db: Database, run_date: dt.date, now: dt.datetime) -> int:
    with db.write() as session:
        batch = Batch(
            kind="daily",
            label=f"daily {run_date.isoformat()}",
            actor=ACTOR,
            state="running",
            position=0,
            details="{}",
            started_at=now,
        )
        session.add(batch)
        session.flush()
        return batch.id


def _record(db: Database, batch_id: int, steps: list[StepOutcome], *, final: bool) -> None:
    failed = any(s.status == "failed" for s in steps)
    with db.write() as session:
        session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(
                position=len(steps),
                details=json.dumps({"steps": [s.to_json() for s in steps]}),
                state=("failed" if failed else "done") if final else "running",
                finished_at=utcnow() if final else None,
            )
        )


def run_daily(
    settings: Settings,
    *,
    today: dt.date | None = None,
    skip: Iterable[str] = (),
    clock: Callable[[], dt.datetime] = utcnow,
) -> DailyResult:
    """Run every step (see the module docstring) and return their outcomes."""
    skipped = set(skip)
    unknown = skipped - set(STEPS)
    if unknown:
        raise InvalidValueError(
            f"unknown step {sorted(unknown)[0]!r}; the steps are {', '.join(STEPS)}"
        )
    zone = settings.processing.zone
    started = clock()
    run_date = today or started.astimezone(zone).date()
    db = open_database(settings.database.url)
    try:
        batch_id = _start_batch(db, run_date, started)
        steps: list[StepOutcome] = []
        work: dict[str, Callable[[], tuple[str, dict[str, Any]] | None]] = {
            "rewards": lambda: _rewards(settings, run_date),
            "expiry": lambda: _expiry(db, settings, run_date),
            "birthdays": lambda: _birthdays(db, settings, run_date),
            "tiers": lambda: _tiers(db, settings, clock()),
            "reminders": lambda: _reminders(db, settings, run_date),
            "shopify_push": lambda: _push(db, settings, started),
            "delivery": lambda: _deliver(db, settings),
        }
        for name in STEPS:
            if name in skipped:
                steps.append(StepOutcome(name, "skipped", detail="--skip"))
                continue
            steps.append(_run_step(name, work[name]))
            _record(db, batch_id, steps, final=False)
        _record(db, batch_id, steps, final=True)
    finally:
        db.dispose()
    result = DailyResult(run_date, batch_id, steps)
    log.info(
        "daily summary: run_date=%s %s exit=%d",
        run_date.isoformat(),
        " ".join(f"{s.name}={s.status}" for s in steps),
        result.exit_code,
    )
    return result


def _run_step(name: str, work: Callable[[], tuple[str, dict[str, Any]] | None]) -> StepOutcome:
    started = time.monotonic()
    try:
        done = work()
    except StepFailed as exc:
        log.error("daily: %s finished with problems: %s", name, exc)
        return StepOutcome(name, "failed", time.monotonic() - started, str(exc), exc.counts)
    except MemberkitError as exc:
        log.error("daily: %s failed: %s", name, exc.message)
        detail = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return StepOutcome(name, "failed", time.monotonic() - started, detail)
    except Exception as exc:
        log.exception("daily: %s failed", name)
        return StepOutcome(
            name, "failed", time.monotonic() - started, f"{type(exc).__name__}: {exc}"
        )
    seconds = time.monotonic() - started
    if done is None:
        return StepOutcome(name, "skipped", seconds, "nothing to do with these settings")
    detail, counts = done
    return StepOutcome(name, "done", seconds, detail, counts)


def _rewards(settings: Settings, run_date: dt.date) -> tuple[str, dict[str, Any]]:
    from memberkit.services.rewards.run import run_daily_update

    done = run_daily_update(settings, today=run_date)
    counts = {
        "processed": done.rewards.counts.processed,
        "changed": done.rewards.counts.changed,
        "rejected": done.rewards.counts.rejected,
    }
    if done.exit_code:
        raise StepFailed("some customers could not be updated or uploaded", counts)
    return f"{counts['changed']} customers changed", counts


def _expiry(db: Database, settings: Settings, run_date: dt.date) -> tuple[str, dict[str, Any]]:
    from memberkit.services.ledger.points import expire_points

    result = expire_points(db, zone=settings.processing.zone, today=run_date)
    counts = {"entries": result.entries, "points": -result.points, "members": result.members}
    return f"{counts['points']} points expired for {result.members} members", counts


def _birthdays(
    db: Database, settings: Settings, run_date: dt.date
) -> tuple[str, dict[str, Any]] | None:
    if settings.birthday.points <= 0:
        return None
    counts = award_birthdays(db, settings, today=run_date, now=utcnow())
    return f"{counts['members']} birthday rewards", dict(counts)


def _tiers(db: Database, settings: Settings, now: dt.datetime) -> tuple[str, dict[str, Any]] | None:
    counts = recalculate_tiers(db, settings, now=now)
    if counts is None:
        return None
    return f"{counts['moved_up']} moved up, {counts['moved_down']} down", dict(counts)


def _reminders(
    db: Database, settings: Settings, run_date: dt.date
) -> tuple[str, dict[str, Any]] | None:
    days = settings.events.expiring_notice_days
    if not days:
        return None
    result = send_expiry_reminders(
        db, today=run_date, notice_days=days, zone=settings.processing.zone
    )
    return f"{result.events} reminders", {"events": result.events, "lots": result.lots}


def _push(
    db: Database, settings: Settings, started: dt.datetime
) -> tuple[str, dict[str, Any]] | None:
    if settings.shopify.push_mode == "file":
        return None
    from memberkit.integrations.shopify.client import client_from_settings
    from memberkit.services.shopify.push import push, write_failures

    with client_from_settings(settings) as client:
        report = push(db, settings, client, changed_since=started)
    counts = {"members": report.members, "pushed": report.pushed, "failed": len(report.failed)}
    if report.failed:
        path = write_failures(report, settings.output.directory, started.date())
        raise StepFailed(f"{len(report.failed)} members refused by Shopify (see {path})", counts)
    return f"{report.pushed} members pushed ({report.mode})", counts


def _deliver(db: Database, settings: Settings) -> tuple[str, dict[str, Any]] | None:
    from memberkit.events.deliver import DeliveryOptions, deliver
    from memberkit.events.sinks.factory import make_sinks

    sinks = make_sinks(settings)
    if not sinks:
        return None
    try:
        report = deliver(
            db,
            sinks,
            options=DeliveryOptions.from_settings(settings),
            workers=settings.events.workers,
        )
    except LockedError as exc:
        # SQLite: another deliverer (`memberkit serve`, or `events deliver`) holds the
        # queue; it delivers these events, so the step is not a failure.
        return f"delivered by another deliverer ({exc.message})", {"skipped": "locked"}
    finally:
        for sink in sinks:
            sink.close()
    counts = report.to_json()
    if report.errors:
        raise StepFailed("; ".join(str(e) for e in report.errors), counts)
    dead = sum(s.dead for s in report.sinks.values())
    if dead:
        raise StepFailed(f"{dead} events went dead (memberkit events list --dead)", counts)
    return f"{report.delivered} deliveries", counts
