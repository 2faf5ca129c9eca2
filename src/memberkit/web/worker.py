"""The worker inside ``memberkit serve``: runs queued imports, undos and rewards runs.

A thread that polls the ``web_jobs`` table (``services.jobs``) every
``web.worker_poll_seconds``; requests only queue rows, so a page returns at
once and shows the job's progress from the database (the CLI sees the same
import rows). While a job runs, a second thread beats its heartbeat and writes
its progress. When ``serve`` is stopped or killed mid-import, the job stays
``running`` with a dead worker; the next worker to start takes it over and
resumes the import after its last committed chunk (``resume_import``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from memberkit.config import Settings
from memberkit.errors import MemberkitError
from memberkit.secrets import redact
from memberkit.services import jobs
from memberkit.services.jobs import JobView
from memberkit.store.database import Database

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0


class _Progress:
    """Progress reported by the running job, picked up by the heartbeat thread."""

    def __init__(self) -> None:
        self.done: int | None = None
        self.total: int | None = None

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total


class Worker:
    """Takes jobs one at a time until stopped (see the module docstring)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.name = jobs.worker_name()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="memberkit-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to stop after the current job; wait up to ``timeout`` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # the loop must survive a database hiccup
                log.exception("worker: taking a job failed")
                ran = False
            if not ran:
                self._stop.wait(self.settings.web.worker_poll_seconds)

    def run_once(self) -> bool:
        """Take and run one job; False when there was none."""
        job = jobs.claim_next(self.db, worker=self.name)
        if job is None:
            return False
        progress = _Progress()
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job.id, progress, done), daemon=True)
        beat.start()
        try:
            result = self._execute(job, progress)
        except MemberkitError as exc:
            done.set()
            beat.join()
            jobs.finish(self.db, job.id, worker=self.name, ok=False, error=redact(exc.message))
        except Exception as exc:
            done.set()
            beat.join()
            log.exception("worker: job %s failed", job.id)
            message = redact(f"{type(exc).__name__}: {exc}")
            jobs.finish(self.db, job.id, worker=self.name, ok=False, error=message)
        else:
            done.set()
            beat.join()
            jobs.finish(self.db, job.id, worker=self.name, ok=True, result=result)
        return True

    def _beat(self, job_id: int, progress: _Progress, done: threading.Event) -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            try:
                jobs.heartbeat(
                    self.db, job_id, worker=self.name, done=progress.done, total=progress.total
                )
            except Exception:
                log.exception("worker: heartbeat of job %s failed", job_id)

    def _execute(self, job: JobView, progress: _Progress) -> dict[str, Any]:
        if job.kind == "import_apply":
            return self._apply_import(job, progress)
        if job.kind == "import_undo":
            from memberkit.services.imports import undo_import

            assert job.import_id is not None
            outcome = undo_import(self.db, self.settings, job.import_id, actor=job.requested_by)
            return {"undo": _plain(outcome)}
        if job.kind == "rewards_run":
            from memberkit.services.rewards.run import run_daily_update

            dry_run = bool(job.params.get("dry_run"))
            run = run_daily_update(self.settings, dry_run=dry_run, progress=progress)
            outputs = [str(p) for p in run.rewards.outputs.written()]
            return {
                "dry_run": dry_run,
                "run_date": run.rewards.run_date.isoformat(),
                "exit_code": run.exit_code,
                "summary": run.summary_line(),
                "output_files": outputs,
                "run_id": run.mirrored.id if run.mirrored is not None else None,
            }
        raise MemberkitError(f"unknown job kind {job.kind!r}")

    def _apply_import(self, job: JobView, progress: _Progress) -> dict[str, Any]:
        from memberkit.services.imports import apply_import, get_import, resume_import

        assert job.import_id is not None
        record = get_import(self.db, job.import_id)
        if record.status in ("running", "interrupted"):
            record = resume_import(
                self.db, self.settings, job.import_id, actor=job.requested_by, progress=progress
            )
        elif record.status == "ready":
            record = apply_import(
                self.db, self.settings, job.import_id, actor=job.requested_by, progress=progress
            )
        return {"status": record.status, "succeeded": record.succeeded, "failed": record.failed}


def _plain(value: Any) -> Any:
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    return str(value)
