"""An import killed (SIGKILL) at random points and resumed ends exactly as an uninterrupted one.

A real ``memberkit import run`` subprocess applies a points-adjust file
(credits, debits, unknown members, debits larger than the balance) in small
chunks; it is killed at seeded random points of its progress (rows committed)
while it applies, then ``memberkit import resume ID`` is started and killed
again, several times, and finally left to finish. Balances, ledger entries (by
idempotency key), failed rows, the results file (but for its timestamps) and
the outbox (but for entry ids, which a PostgreSQL sequence does not give back
on rollback) must equal those of the same import run without interruption. On
SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.imports.conftest import ACTOR, add_members, store_settings
from tests.ledger.conftest import _empty_postgres

from memberkit.config import Settings
from memberkit.services.imports import ImportOptions, run_import
from memberkit.store.database import Database, open_database
from memberkit.store.models import Batch, Import, ImportFailure, LedgerEntry, Member, OutboxEvent

pytestmark = pytest.mark.slow

MEMBERS = 1500
ROWS = 3000
SEED = 20261202
KILLS = 5
LAUNCHER = "from memberkit.cli.main import main; main()"
DEADLINE = 120.0


def adjust_file(path: Path) -> Path:
    rng = random.Random(SEED)
    lines = ["Customer ID,Points,Points Expiry Date"]
    for i in range(ROWS):
        member = rng.randint(1, MEMBERS + 100) if i % 2 else (i // 2) % MEMBERS + 1
        points = rng.choice([rng.randint(1, 300), -rng.randint(1, 400)])
        expiry = "2031-01-31" if points > 0 and rng.random() < 0.3 else ""
        lines.append(f"{6600000000 + member},{points},{expiry}")
    # One row per member: keep the first row of each.
    seen: set[str] = set()
    kept = [lines[0]]
    for line in lines[1:]:
        key = line.split(",")[0]
        if key not in seen:
            seen.add(key)
            kept.append(line)
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


def prepare(settings: Settings, db: Database, tmp: Path) -> None:
    add_members(db, MEMBERS)
    opening = tmp / "opening.csv"
    opening.write_text(
        "Customer ID,Points\n"
        + "".join(f"{6600000000 + i},{(i * 37) % 250 + 1}\n" for i in range(1, MEMBERS + 1)),
        encoding="utf-8",
    )
    record = run_import(
        db,
        settings,
        kind="points-add",
        source=opening,
        original_name="opening.csv",
        options=ImportOptions(),
        actor=ACTOR,
    )
    assert record.failed == 0


def start(config: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "KLAVIYO_"))}
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, "import", *args, "--config", str(config)],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def applied_position(db: Database) -> tuple[str | None, int]:
    """The last import's status and how many of its rows are committed (its checkpoint)."""
    with db.read() as session:
        row = session.scalars(select(Import).order_by(Import.id.desc()).limit(1)).first()
        if row is None:
            return None, 0
        batch = session.get(Batch, row.batch_id) if row.batch_id else None
        return row.status, batch.position if batch is not None else 0


def wait_past(db: Database, process: subprocess.Popen[bytes], target: int) -> bool:
    """Wait until the import has committed more than ``target`` rows (True) or ended (False).

    The kill is placed by observed progress, not by time: a fast machine would
    otherwise finish before the sleep ends and a slow one not start applying.
    """
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        status, position = applied_position(db)
        if status == "running" and position > target:
            return True
        time.sleep(0.005)
    process.kill()
    raise AssertionError(f"the import never got past row {target}")


def snapshot(db: Database, import_id: int) -> dict[str, Any]:
    with db.read() as session:
        record = session.get(Import, import_id)
        assert record is not None and record.results_file is not None
        results = list(csv.reader(io.StringIO(Path(record.results_file).read_text("utf-8"))))
        events = []
        for event in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)):
            payload = json.loads(event.payload)
            payload.pop("entry_id", None)
            events.append((event.event_type, event.member_id, payload))
        return {
            "status": record.status,
            "counts": (record.applied_rows, record.succeeded, record.failed),
            "balances": dict(session.execute(select(Member.id, Member.points_balance)).all()),
            "entries": sorted(
                (e.idempotency_key or "", e.member_id, e.kind, e.points, str(e.expires_on))
                for e in session.scalars(select(LedgerEntry))
            ),
            "failures": dict(
                session.execute(
                    select(ImportFailure.row_number, ImportFailure.reason).where(
                        ImportFailure.import_id == import_id
                    )
                ).all()
            ),
            "results": [row[:4] for row in results],
            "events": events,
        }


def test_killed_import_resumes_to_the_same_end_as_an_uninterrupted_one(
    tmp_path: Path, database_url: str
) -> None:
    second_url = (
        f"sqlite:///{tmp_path / 'killed.db'}" if database_url.startswith("sqlite") else database_url
    )
    extra = "\n[imports]\nchunk_size = 50\n"
    plain = store_settings(tmp_path / "plain", database_url, extra)
    source = adjust_file(tmp_path / "adjust.csv")
    valid_rows = len(source.read_text("utf-8").splitlines()) - 1

    db = open_database(database_url)
    try:
        prepare(plain, db, tmp_path)
        done = start(plain.config_path or Path(), "run", "points-adjust", str(source))
        _, err = done.communicate(timeout=DEADLINE)
        assert done.returncode == 3, err.decode()
        with db.read() as session:
            reference_id = session.scalar(select(func.max(Import.id)))
        expected = snapshot(db, reference_id)
    finally:
        db.dispose()
    assert expected["counts"][2] > 0 and expected["counts"][1] > 0

    if second_url == database_url:
        _empty_postgres(database_url)
    killed_settings = store_settings(tmp_path / "killed", second_url, extra)
    db = open_database(second_url)
    rng = random.Random(SEED)
    try:
        prepare(killed_settings, db, tmp_path)
        config = killed_settings.config_path or Path()
        process = start(config, "run", "points-adjust", str(source))
        import_id: int | None = None
        mid_apply = 0
        committed = 0
        for _ in range(KILLS):
            # Somewhere in the rows still to apply, leaving at least a chunk after it.
            if committed + 1 >= valid_rows - 100:
                break
            target = rng.randint(committed + 1, valid_rows - 100)
            if not wait_past(db, process, target):
                break
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=DEADLINE)
            status, committed = applied_position(db)
            if status == "running" and 0 < committed < valid_rows:
                mid_apply += 1
            if status == "completed":
                break
            with db.read() as session:
                import_id = session.scalar(select(func.max(Import.id)))
            process = start(config, "resume", str(import_id))
        process.communicate(timeout=DEADLINE)
        with db.read() as session:
            import_id = session.scalar(select(func.max(Import.id)))
        if process.returncode not in (0, 3):
            # The last resume could not finish (killed, or refused): finish it now.
            final = start(config, "resume", str(import_id))
            _, err = final.communicate(timeout=DEADLINE)
            assert final.returncode == 3, err.decode()
        got = snapshot(db, import_id)
    finally:
        db.dispose()
    assert mid_apply >= 2, "the kills should land in the middle of applying"
    assert got == expected
