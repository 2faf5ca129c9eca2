"""The rewards update's database mirror: changed members and wallets, and a record of each run.

After each daily rewards update the database should match Shopify: the
members the update changed (profile fields and reward-code wallets) are
upserted, and the run itself (date, counts, output files) is recorded. Both
happen in ``record_rewards_run`` over plain data, so the update service only
has to hand over what it already knows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from memberkit.clock import utcnow
from memberkit.config import Settings
from memberkit.domain.codes import dump_compact
from memberkit.domain.members import MemberRecord
from memberkit.errors import MemberkitError
from memberkit.services.ledger.members import UpsertResult, upsert_members_from_export
from memberkit.services.rewards.spool import ChangedMembersSpool
from memberkit.services.rewards.update import (
    ChangedCustomer,
    ProgressCallback,
    RewardsUpdateResult,
    run_rewards_update,
)
from memberkit.store.database import Database, open_database
from memberkit.store.models import RewardsRun


@dataclass(frozen=True)
class RewardsRunView:
    """A recorded rewards run."""

    id: int
    run_date: dt.date
    started_at: dt.datetime
    finished_at: dt.datetime
    counts: dict[str, int]
    output_files: list[str]
    members_changed: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = dict(self.__dict__)
        data["run_date"] = self.run_date.isoformat()
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        return data


def _view(run: RewardsRun) -> RewardsRunView:
    return RewardsRunView(
        id=run.id,
        run_date=run.run_date,
        started_at=run.started_at,
        finished_at=run.finished_at,
        counts=dict(json.loads(run.counts)),
        output_files=list(json.loads(run.output_files)),
        members_changed=run.members_changed,
    )


# The rewards update is a scheduled job: its member changes are the system's.
MIRROR_ACTOR = "system:rewards-update"


def record_rewards_run(
    db: Database,
    *,
    run_date: dt.date,
    started_at: dt.datetime,
    finished_at: dt.datetime,
    counts: Mapping[str, int],
    output_files: Sequence[Path | str],
    changed_members: Iterable[MemberRecord],
) -> tuple[RewardsRunView, UpsertResult]:
    """Upsert the members a rewards run changed, then record the run.

    The member upsert is one transaction and the run record another, written
    after it: a recorded run always means its members are in the database.
    """
    upserted = upsert_members_from_export(
        db, actor=MIRROR_ACTOR, records=changed_members, now=finished_at
    )
    with db.write() as session:
        run = RewardsRun(
            run_date=run_date,
            started_at=started_at,
            finished_at=finished_at,
            counts=json.dumps(dict(counts), sort_keys=True),
            output_files=json.dumps([str(p) for p in output_files]),
            members_changed=upserted.created + upserted.updated,
        )
        session.add(run)
        session.flush()
        return _view(run), upserted


def recent_rewards_runs(db: Database, *, limit: int = 20) -> list[RewardsRunView]:
    """The latest recorded runs, newest first."""
    with db.read() as session:
        return [
            _view(run)
            for run in session.scalars(
                select(RewardsRun).order_by(RewardsRun.id.desc()).limit(limit)
            )
        ]


def member_record(changed: ChangedCustomer) -> MemberRecord:
    """What the database keeps of a customer the rewards update changed."""
    return MemberRecord(
        shopify_id=changed.shopify_id,
        email=changed.email or None,
        codes_available=dump_compact(changed.available),
        codes_used=dump_compact(changed.used),
        codes_expired=dump_compact(changed.expired),
    )


class RewardsMirror:
    """The database side of one rewards update: spool changed customers, then record.

    Usage::

        with RewardsMirror.open(settings) as mirror:
            result = run_rewards_update(settings, changed_spool=mirror.spool)
            run = mirror.record(result)

    With ``database.mirror_rewards_update`` off, ``spool`` is None and ``record``
    returns None. The database is opened first, so a schema problem stops the
    run before any file is written; the members and the run are written after
    the outputs are published. Changed customers wait in spool files (one JSON
    line each, one file per reader process), so memory does not grow with the
    size of the export and the update keeps both its readers.
    """

    def __init__(self, db: Database | None, spool_dir: Path, *, owns_db: bool = True) -> None:
        self.db = db
        self.started = utcnow()
        self._owns_db = owns_db
        self.spool: ChangedMembersSpool | None = (
            ChangedMembersSpool(spool_dir) if db is not None else None
        )

    @property
    def changed(self) -> int:
        """How many changed customers are spooled so far."""
        return self.spool.count if self.spool is not None else 0

    @classmethod
    def open(cls, settings: Settings, db: Database | None = None) -> RewardsMirror:
        """A mirror on ``db`` (else ``database.url``), or a switched-off one."""
        if not settings.database.mirror_rewards_update:
            return cls(None, settings.output.directory)
        if db is not None:
            return cls(db, settings.output.directory, owns_db=False)
        return cls(open_database(settings.database.url), settings.output.directory)

    @classmethod
    def off(cls, settings: Settings) -> RewardsMirror:
        """A mirror that records nothing (a dry run)."""
        return cls(None, settings.output.directory)

    def record(self, result: RewardsUpdateResult) -> RewardsRunView | None:
        """Write the changed members and the run record; None when the mirror is off."""
        if self.db is None or self.spool is None:
            return None
        try:
            run, _ = record_rewards_run(
                self.db,
                run_date=result.run_date,
                started_at=self.started,
                finished_at=utcnow(),
                counts=asdict(result.counts),
                output_files=result.outputs.written(),
                changed_members=self.spool.records(),
            )
        except MemberkitError:
            raise
        except Exception as exc:
            raise MemberkitError(
                f"the rewards update finished and its files are complete, but mirroring "
                f"{self.changed:,} changed members into {self.db.url} failed: {exc}",
                hint="fix the database, then run the update again for the same day",
            ) from exc
        return run

    def __enter__(self) -> RewardsMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.spool is not None:
            self.spool.close()
        if self.db is not None and self._owns_db:
            self.db.dispose()


def run_rewards_update_with_mirror(
    settings: Settings,
    *,
    today: dt.date | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[RewardsUpdateResult, RewardsRunView | None]:
    """``run_rewards_update`` (no Klaviyo), then its mirror into ``database.url``."""
    with RewardsMirror.open(settings) as mirror:
        result = run_rewards_update(
            settings, today=today, progress=progress, changed_spool=mirror.spool
        )
        return result, mirror.record(result)
