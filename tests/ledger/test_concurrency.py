"""Several processes posting to the same member at once never lose an update."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from memberkit.services.ledger.members import create_member
from memberkit.store.database import Database
from memberkit.store.models import LedgerEntry, Lot, Member

WORKER = Path(__file__).with_name("hammer_worker.py")
PROCESSES = 4
ITERATIONS = 25


@pytest.mark.slow
def test_processes_hammering_one_member_lose_no_update(database_url: str, db: Database) -> None:
    member = create_member(db, actor="test:suite", email="busy@example.com")
    start_at = time.time() + 2.0
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                database_url,
                str(member),
                str(ITERATIONS),
                str(start_at),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    with db.read() as s:
        balance = s.scalar(select(Member.points_balance).where(Member.id == member))
        entries = s.scalar(select(func.count()).select_from(LedgerEntry))
        ledger_sum = s.scalar(select(func.sum(LedgerEntry.points)))
        remaining = s.scalar(select(func.sum(Lot.remaining)))
    assert entries == PROCESSES * ITERATIONS * 2
    assert balance == ledger_sum == remaining == PROCESSES * ITERATIONS
