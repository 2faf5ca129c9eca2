"""Long work asked for in the web, as rows: the queue the worker inside ``serve`` takes from.

A job is a ``web_jobs`` row: ``queued`` -> ``running`` (with a worker name and
a heartbeat) -> ``done`` or ``failed``. ``claim_next`` takes the oldest queued
job, or a running one whose worker is gone (its heartbeat is older than
``stale_after``, or its pid on this host is dead), in one write transaction
(``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so
two workers never take the same job. A taken-over job is resumed by its
handler (an import continues after its last committed chunk).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update

from memberkit.clock import utcnow
from memberkit.errors import NotFoundError
from memberkit.store.database import Database
from memberkit.store.locks import process_is_running
from memberkit.store.models import WebJob

JOB_KINDS = ("import_apply", "import_undo", "rewards_run")
ACTIVE_STATES = ("queued", "running")


@dataclass(frozen=True)
class JobView:
    """One job as pages and the API show it."""

    id: int
    kind: str
    state: str
    params: dict[str, Any]
    import_id: int | None
    requested_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    worker: str | None
    attempts: int
    done: int
    total: int
    result: dict[str, Any]
    error: str | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, dt.datetime) else value
        return out


def _view(row: WebJob) -> JobView:
    return JobView(
        id=row.id,
        kind=row.kind,
        state=row.state,
        params=json.loads(row.params or "{}"),
        import_id=row.import_id,
        requested_by=row.requested_by,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
        worker=row.worker,
        attempts=row.attempts,
        done=row.done,
        total=row.total,
        result=json.loads(row.result or "{}"),
        error=row.error,
    )


def worker_name() -> str:
    """``host:pid`` of this process: how a job names the worker that runs it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _worker_gone(name: str | None) -> bool:
    if not name or ":" not in name:
        return True
    host, _, pid = name.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not process_is_running(int(pid))


def enqueue(
    db: Database,
    *,
    kind: str,
    requested_by: str,
    params: dict[str, Any] | None = None,
    import_id: int | None = None,
) -> JobView:
    """Queue a job; the worker starts it within ``web.worker_poll_seconds``."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    with db.write() as session:
        row = WebJob(
            kind=kind,
            state="queued",
            params=json.dumps(params or {}, sort_keys=True),
            import_id=import_id,
            requested_by=requested_by,
            created_at=utcnow(),
            attempts=0,
            done=0,
            total=0,
            result="{}",
        )
        session.add(row)
        session.flush()
        return _view(row)


def claim_next(
    db: Database, *, worker: str, stale_after: dt.timedelta = dt.timedelta(seconds=20)
) -> JobView | None:
    """Take the next job for ``worker`` (see the module docstring); None when there is none."""
    now = utcnow()
    with db.write() as session:
        query = (
            select(WebJob)
            .where(
                or_(
                    WebJob.state == "queued",
                    WebJob.state == "running",
                )
            )
            .order_by(WebJob.id)
            .limit(20)
        )
        if db.is_postgresql:
            query = query.with_for_update(skip_locked=True)
        for row in session.scalars(query):
            if row.state == "running":
                beat = row.heartbeat_at or row.started_at or row.created_at
                if row.worker == worker or not (
                    now - beat > stale_after or _worker_gone(row.worker)
                ):
                    continue
            row.state = "running"
            row.worker = worker
            row.started_at = row.started_at or now
            row.heartbeat_at = now
            row.attempts += 1
            session.flush()
            return _view(row)
    return None


def heartbeat(
    db: Database, job_id: int, *, worker: str, done: int | None = None, total: int | None = None
) -> None:
    """Say ``worker`` still runs the job (and how far it got)."""
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if done is not None:
        values["done"] = done
    if total is not None:
        values["total"] = total
    with db.write() as session:
        session.execute(
            update(WebJob).where(WebJob.id == job_id, WebJob.worker == worker).values(**values)
        )


def finish(
    db: Database,
    job_id: int,
    *,
    worker: str,
    ok: bool,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """End a job ``done`` or ``failed`` with its result or error."""
    with db.write() as session:
        session.execute(
            update(WebJob)
            .where(WebJob.id == job_id, WebJob.worker == worker)
            .values(
                state="done" if ok else "failed",
                finished_at=utcnow(),
                result=json.dumps(result or {}, sort_keys=True, default=str),
                error=error,
            )
        )


def get_job(db: Database, job_id: int) -> JobView:
    """One job; ``NotFoundError`` when there is none."""
    with db.read() as session:
        row = session.get(WebJob, job_id)
        if row is None:
            raise NotFoundError(f"no job #{job_id}")
        return _view(row)


def list_jobs(db: Database, *, kind: str | None = None, limit: int = 50) -> list[JobView]:
    """The latest jobs (of one kind), newest first."""
    with db.read() as session:
        query = select(WebJob).order_by(WebJob.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(WebJob.kind == kind)
        return [_view(r) for r in session.scalars(query)]


def active_jobs(db: Database, *, kind: str | None = None) -> list[JobView]:
    """Queued and running jobs (of one kind), oldest first."""
    with db.read() as session:
        query = select(WebJob).where(WebJob.state.in_(ACTIVE_STATES)).order_by(WebJob.id)
        if kind is not None:
            query = query.where(WebJob.kind == kind)
        return [_view(r) for r in session.scalars(query)]


def latest_for_import(db: Database, import_id: int) -> JobView | None:
    """The newest job about one import, if any."""
    with db.read() as session:
        row = session.scalars(
            select(WebJob).where(WebJob.import_id == import_id).order_by(WebJob.id.desc()).limit(1)
        ).first()
        return _view(row) if row is not None else None
