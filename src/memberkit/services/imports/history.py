"""The import history: list, show, and which import is running now."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from memberkit.services.imports.records import ImportRecord, missing_import, record_of
from memberkit.store.database import Database
from memberkit.store.locks import LockHolder, process_is_running
from memberkit.store.models import Import, JobLock

#: The job lock every apply, resume and undo holds.
LOCK_NAME = "imports"


def _lock_alive(session: Session) -> bool:
    """Whether a live process holds the imports lock (a dead pid on this host: no)."""
    lock = session.get(JobLock, LOCK_NAME)
    if lock is None:
        return False
    here = LockHolder.this_process("").host
    return not (lock.host == here and not process_is_running(lock.pid))


def list_imports(db: Database, *, limit: int = 50) -> list[ImportRecord]:
    """The latest imports, newest first (a running one whose process died: interrupted)."""
    with db.read() as session:
        alive = _lock_alive(session)
        rows = session.scalars(select(Import).order_by(Import.id.desc()).limit(limit)).all()
        return [record_of(r, interrupted=not alive) for r in rows]


def get_import(db: Database, import_id: int) -> ImportRecord:
    """One import; a ``NotFoundError`` when there is none with that id."""
    with db.read() as session:
        row = session.get(Import, import_id)
        if row is None:
            raise missing_import(import_id)
        return record_of(row, interrupted=not _lock_alive(session))


def running_import(db: Database) -> ImportRecord | None:
    """The import being applied or undone now (or interrupted while it was), if any."""
    with db.read() as session:
        row = session.scalars(
            select(Import).where(Import.status == "running").order_by(Import.id).limit(1)
        ).first()
        if row is None:
            return None
        return record_of(row, interrupted=not _lock_alive(session))
