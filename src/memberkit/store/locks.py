"""One run at a time, in the database: a named lock row with its holder and a heartbeat.

``job_lock(db, name, command=...)`` holds the row ``job_locks.name`` for the
block. The row says who holds it (host, pid, command), carries a random token
(only the holder's token can refresh or release it), and a heartbeat that a
background thread refreshes while the lock is held. Another run finding the row:

- the holder is alive (or on another host and its heartbeat is recent):
  ``LockedError`` naming the holder and when it was last seen;
- the holder is gone: taken over, with a warning naming the earlier holder.
  Gone means a heartbeat older than ``stale_after`` (any host), or, on this
  host, a pid that no longer runs (so a killed run never blocks the next one,
  not even for ``stale_after``).

Acquiring is one write transaction (``SELECT ... FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), so two runs never both get the lock; it works
across processes and hosts on PostgreSQL and across processes on SQLite.
Heartbeats use this host's clock: hosts sharing a lock need synchronised clocks
(well within ``stale_after``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from memberkit.clock import utcnow
from memberkit.errors import LockedError
from memberkit.store.database import Database
from memberkit.store.models import JobLock

log = logging.getLogger("memberkit.store.locks")

#: A holder silent for this long is taken to be dead.
DEFAULT_STALE_AFTER = dt.timedelta(minutes=5)
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or wants) a lock."""

    host: str
    pid: int
    command: str

    @classmethod
    def this_process(cls, command: str) -> LockHolder:
        """This process, on this host, running ``command``."""
        return cls(socket.gethostname(), os.getpid(), command)

    def describe(self) -> str:
        """``pid 12 on web-1 (memberkit rewards update)``, cut to the column's width."""
        return f"pid {self.pid} on {self.host} ({self.command})"[:300]


def process_is_running(pid: int) -> bool:
    """Whether ``pid`` names a live process on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc here (or it vanished meanwhile): trust kill()
        return True
    # The state follows the command name in parentheses (which may itself hold spaces).
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


class HeldLock:
    """A lock this process holds; ``release`` (or leaving ``job_lock``) gives it back."""

    def __init__(
        self,
        db: Database,
        name: str,
        holder: LockHolder,
        token: str,
        *,
        stale_after: dt.timedelta,
        clock: Clock,
    ) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.token = token
        self.stale_after = stale_after
        self.clock = clock
        self.lost = False  # another run took it over (our heartbeat stopped for too long)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Refresh the heartbeat; False (and ``lost``) when the row is no longer ours."""
        with self.db.write() as session:
            result = session.execute(
                update(JobLock)
                .where(JobLock.name == self.name, JobLock.token == self.token)
                .values(heartbeat_at=self.clock())
            )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            self.lost = True
            log.error(
                "the %s lock was taken over by another run while this one held it "
                "(no heartbeat for longer than %d s)",
                self.name,
                self.stale_after.total_seconds(),
            )
            return False
        return True

    def start_heartbeat(self, every: dt.timedelta) -> None:
        """Refresh the heartbeat every ``every`` in a daemon thread until ``release``."""

        def beat() -> None:
            while not self._stop.wait(every.total_seconds()):
                try:
                    if not self.refresh():
                        return
                except Exception as exc:  # a busy or unreachable database: try again later
                    log.warning("could not refresh the %s lock's heartbeat: %s", self.name, exc)

        self._thread = threading.Thread(target=beat, name=f"lock-heartbeat-{self.name}")
        self._thread.daemon = True
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and delete the row (if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self.db.write() as session:
            session.execute(
                delete(JobLock).where(JobLock.name == self.name, JobLock.token == self.token)
            )


def acquire_lock(
    db: Database,
    name: str,
    *,
    holder: LockHolder,
    what: str | None = None,
    stale_after: dt.timedelta = DEFAULT_STALE_AFTER,
    clock: Clock = utcnow,
    is_running: Callable[[int], bool] = process_is_running,
) -> HeldLock:
    """Take the lock ``name`` for ``holder``, or raise ``LockedError`` naming its holder.

    A lock whose holder is gone (see the module docstring) is taken over with a
    warning. ``what`` names the job in messages ("the rewards update"; default
    ``name``). No heartbeat thread is started (``job_lock`` starts one).
    """
    for attempt in range(2):
        try:
            return _try_acquire(db, name, what or name, holder, stale_after, clock, is_running)
        except IntegrityError:
            # Another run inserted the row between our read and our insert (PostgreSQL
            # has no row to lock when there is none yet): look again, once.
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _try_acquire(
    db: Database,
    name: str,
    what: str,
    holder: LockHolder,
    stale_after: dt.timedelta,
    clock: Clock,
    is_running: Callable[[int], bool],
) -> HeldLock:
    token = secrets.token_hex(16)
    with db.write() as session:
        now = clock()
        row = session.get(JobLock, name, with_for_update=True)
        if row is None:
            session.add(
                JobLock(
                    name=name,
                    holder=holder.describe(),
                    host=holder.host,
                    pid=holder.pid,
                    token=token,
                    acquired_at=now,
                    heartbeat_at=now,
                    stale_after_seconds=int(stale_after.total_seconds()),
                )
            )
            session.flush()
        else:
            silent = now - row.heartbeat_at
            stale = silent > dt.timedelta(seconds=row.stale_after_seconds)
            dead = row.host == holder.host and not is_running(row.pid)
            if not (stale or dead):
                raise LockedError(
                    f"{what} is already running: the lock is held by {row.holder} "
                    f"since {_when(row.acquired_at)}, last seen {_ago(silent)} ago",
                    hint=(
                        f"wait for it to finish; if pid {row.pid} is stuck, stop it: the "
                        "next run takes the lock over at once"
                        if row.host == holder.host
                        else "wait for it to finish; it runs on another host, and its lock "
                        f"is taken over once silent for {row.stale_after_seconds} s"
                    ),
                )
            why = (
                "its process is gone"
                if dead
                else f"no heartbeat for {_ago(silent)} (stale after {row.stale_after_seconds} s)"
            )
            log.warning(
                "taking over the %s lock from %s, held since %s: %s",
                name,
                row.holder,
                _when(row.acquired_at),
                why,
            )
            row.holder, row.host, row.pid, row.token = (
                holder.describe(),
                holder.host,
                holder.pid,
                token,
            )
            row.acquired_at = row.heartbeat_at = now
            row.stale_after_seconds = int(stale_after.total_seconds())
    return HeldLock(db, name, holder, token, stale_after=stale_after, clock=clock)


@contextmanager
def job_lock(
    db: Database,
    name: str,
    *,
    command: str,
    what: str | None = None,
    stale_after: dt.timedelta = DEFAULT_STALE_AFTER,
    heartbeat_every: dt.timedelta | None = None,
    clock: Clock = utcnow,
) -> Iterator[HeldLock]:
    """Hold the lock ``name`` for the block, its heartbeat refreshed in the background.

    ``heartbeat_every`` defaults to a tenth of ``stale_after``, so a few missed
    beats (a busy SQLite file) never make a live holder look dead.
    """
    held = acquire_lock(
        db,
        name,
        holder=LockHolder.this_process(command),
        what=what,
        stale_after=stale_after,
        clock=clock,
    )
    held.start_heartbeat(heartbeat_every or stale_after / 10)
    try:
        yield held
    finally:
        held.release()


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 600:  # the range stale-after is usually in: exact
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
