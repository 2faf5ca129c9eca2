"""The rewards update's "one at a time": a lock row in ``database.url``.

Two updates of one store never run at once, whether started by cron, by hand
or (later) by the web's "Run now", on one host or several sharing a
PostgreSQL database. See ``store.locks`` for how a dead holder is taken over.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from memberkit.config import Settings
from memberkit.store.database import Database, open_database
from memberkit.store.locks import HeldLock, job_lock

LOCK_NAME = "rewards-update"
WHAT = "the rewards update"


def this_command() -> str:
    """How this process was started, for the lock's holder (``memberkit rewards update ...``)."""
    if not sys.argv or not sys.argv[0]:
        return "memberkit"
    program = Path(sys.argv[0]).name
    if program in ("__main__.py", "-m", "-c"):
        program = "memberkit"
    return " ".join([program, *sys.argv[1:]])


@contextmanager
def rewards_lock(settings: Settings, db: Database | None = None) -> Iterator[HeldLock]:
    """Hold the update's lock for the block (on ``db``, else ``database.url``).

    Raise ``LockedError`` naming the holder when another update runs.
    """
    database = db if db is not None else open_database(settings.database.url)
    try:
        with job_lock(database, LOCK_NAME, what=WHAT, command=this_command()) as held:
            yield held
    finally:
        if db is None:
            database.dispose()
