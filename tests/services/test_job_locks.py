"""One run at a time, in the database (``store.locks``), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import subprocess
import sys
import threading
import time

import pytest

from memberkit.errors import LockedError
from memberkit.store.database import Database, open_database
from memberkit.store.locks import (
    LockHolder,
    acquire_lock,
    job_lock,
    process_is_running,
)
from memberkit.store.models import JobLock

T0 = dt.datetime(2026, 12, 1, 6, 30, tzinfo=dt.UTC)
STALE = dt.timedelta(minutes=5)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def elsewhere(pid: int = 4242) -> LockHolder:
    return LockHolder("other-host", pid, "memberkit rewards update")


def here(command: str = "memberkit rewards update") -> LockHolder:
    return LockHolder.this_process(command)


def test_a_second_run_is_refused_naming_the_holder_and_when_it_was_last_seen(
    db: Database,
) -> None:
    clock = FakeClock()
    acquire_lock(db, "rewards-update", holder=elsewhere(), clock=clock, what="the rewards update")
    clock.now = T0 + dt.timedelta(seconds=90)
    with pytest.raises(LockedError) as refused:
        acquire_lock(db, "rewards-update", holder=here(), clock=clock, what="the rewards update")
    assert str(refused.value).startswith(
        "the rewards update is already running: the lock is held by pid 4242 on other-host "
        "(memberkit rewards update) since 2026-12-01 06:30:00 UTC, last seen 90 s ago"
    )
    assert refused.value.hint is not None and "another host" in refused.value.hint


def test_a_holder_silent_for_longer_than_stale_after_is_reported_and_taken_over(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    old = acquire_lock(db, "job", holder=elsewhere(), clock=clock, stale_after=STALE)
    clock.now = T0 + STALE  # exactly stale-after: still alive
    with pytest.raises(LockedError):
        acquire_lock(db, "job", holder=here(), clock=clock)
    clock.now = T0 + STALE + dt.timedelta(seconds=1)
    with caplog.at_level(logging.WARNING, logger="memberkit"):
        new = acquire_lock(db, "job", holder=here(), clock=clock)
    assert "taking over the job lock from pid 4242 on other-host" in caplog.text
    assert "no heartbeat for 301 s (stale after 300 s)" in caplog.text
    # The old holder can neither refresh nor release the new holder's lock.
    assert old.refresh() is False and old.lost
    old.release()
    with db.read() as session:
        row = session.get(JobLock, "job")
        assert row is not None and row.token == new.token and row.pid == new.holder.pid


def test_a_heartbeat_keeps_a_long_run_from_being_taken_over(db: Database) -> None:
    clock = FakeClock()
    held = acquire_lock(db, "job", holder=elsewhere(), clock=clock, stale_after=STALE)
    for _ in range(4):  # 20 minutes, a beat every 4 minutes
        clock.now += dt.timedelta(minutes=4)
        assert held.refresh()
    with pytest.raises(LockedError, match="last seen 0 s ago"):
        acquire_lock(db, "job", holder=here(), clock=clock)


def test_the_heartbeat_thread_refreshes_the_row_while_the_lock_is_held(db: Database) -> None:
    clock = FakeClock()
    with job_lock(
        db, "job", command="test", clock=clock, heartbeat_every=dt.timedelta(milliseconds=5)
    ):
        clock.now = T0 + dt.timedelta(minutes=1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.read() as session:
                row = session.get(JobLock, "job")
                assert row is not None
                if row.heartbeat_at == clock.now:
                    break
            time.sleep(0.005)
        else:
            pytest.fail("the heartbeat was never refreshed")
    with db.read() as session:
        assert session.get(JobLock, "job") is None  # released


def test_a_lock_whose_process_is_gone_on_this_host_is_taken_over_at_once(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(finished.stdout)
    assert not process_is_running(dead_pid)
    acquire_lock(db, "job", holder=dataclasses.replace(here("killed run"), pid=dead_pid))
    with caplog.at_level(logging.WARNING, logger="memberkit"):
        acquire_lock(db, "job", holder=here())  # no waiting for stale-after
    assert f"taking over the job lock from pid {dead_pid}" in caplog.text
    assert "its process is gone" in caplog.text


def test_only_one_of_many_concurrent_runs_gets_the_lock(database_url: str) -> None:
    databases = [open_database(database_url) for _ in range(6)]
    barrier = threading.Barrier(len(databases))
    outcomes: list[str] = []

    def attempt(db: Database, number: int) -> None:
        barrier.wait()
        try:
            acquire_lock(
                db,
                "job",
                holder=LockHolder("host", 1000 + number, "test"),
                is_running=lambda pid: True,
            )
            outcomes.append("held")
        except LockedError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(d, n)) for n, d in enumerate(databases)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for database in databases:
        database.dispose()
    assert sorted(outcomes) == ["held"] + ["refused"] * (len(databases) - 1)


HOLDER_SCRIPT = """
import sys
from memberkit.store.database import open_database
from memberkit.store.locks import job_lock
with job_lock(open_database(sys.argv[1]), "job", command="holder script"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_the_lock_holds_across_processes_and_a_killed_holder_is_taken_over(
    db: Database, database_url: str
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, database_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LockedError, match=rf"held by pid {holder.pid} on .* \(holder script\)"):
            acquire_lock(db, "job", holder=here())
    finally:
        holder.kill()
        holder.wait()
    held = acquire_lock(db, "job", holder=here())
    held.release()
