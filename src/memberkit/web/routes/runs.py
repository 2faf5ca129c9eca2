"""Rewards update: the history of runs with their files, and "Run now" (with a dry-run option)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from memberkit.errors import MemberkitError, NotFoundError
from memberkit.services import jobs
from memberkit.services.rewards.mirror import RewardsRunView, recent_rewards_runs
from memberkit.store.database import Database
from memberkit.web.deps import Operator, Viewer, app_db
from memberkit.web.rendering import render
from memberkit.web.routes.imports import download

router = APIRouter(include_in_schema=False)


class RunRefusedError(MemberkitError):
    """A run was asked for while another one is queued or running."""

    code = "locked"


def request_run(db: Database, *, dry_run: bool, actor: str) -> jobs.JobView:
    """Queue a rewards update for the worker; refused while one is queued or running."""
    if jobs.active_jobs(db, kind="rewards_run"):
        raise RunRefusedError("a rewards update is already queued or running")
    return jobs.enqueue(db, kind="rewards_run", requested_by=actor, params={"dry_run": dry_run})


def run_file(db: Database, run_id: int, index: int) -> Path:
    """Output file ``index`` of recorded run ``run_id`` (only files the run lists)."""
    run = next((r for r in recent_rewards_runs(db, limit=1000) if r.id == run_id), None)
    if run is None:
        raise NotFoundError(f"no rewards run #{run_id}")
    return _listed(run.output_files, index, f"run #{run_id}")


def job_file(db: Database, job_id: int, index: int) -> Path:
    """Output file ``index`` of a "Run now" job (a dry run's files are listed there only)."""
    job = jobs.get_job(db, job_id)
    if job.kind != "rewards_run":
        raise NotFoundError(f"job #{job_id} is not a rewards run")
    return _listed(list(job.result.get("output_files", [])), index, f"job #{job_id}")


def _listed(files: list[str], index: int, owner: str) -> Path:
    if not 0 <= index < len(files):
        raise NotFoundError(f"{owner} has no file number {index}")
    path = Path(files[index])
    if not path.is_file():
        raise NotFoundError(f"{owner}'s file {path.name} is no longer there (archived or removed)")
    return path


def _context(db: Database) -> dict[str, object]:
    runs: list[RewardsRunView] = recent_rewards_runs(db, limit=50)
    return {
        "runs": runs,
        "jobs": jobs.list_jobs(db, kind="rewards_run", limit=20),
        "active": jobs.active_jobs(db, kind="rewards_run"),
    }


@router.get("/runs")
def runs_page(request: Request, caller: Viewer) -> Response:
    """Runs and their files; the Run now form."""
    return render(request, "runs/index.html", _context(app_db(request)))


@router.get("/runs/progress")
def runs_progress(request: Request, caller: Viewer) -> Response:
    """The fragment htmx polls while a run is queued or running."""
    return render(request, "runs/_jobs.html", _context(app_db(request)))


@router.post("/runs")
async def run_now(request: Request, caller: Operator) -> Response:
    """Queue a rewards update now (``dry_run`` checkbox: outputs to output/dry-run only)."""
    form = await request.form()
    dry_run = str(form.get("dry_run") or "") in ("1", "on", "true")
    request_run(app_db(request), dry_run=dry_run, actor=caller.actor)
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs/{run_id}/files/{index}")
def download_run_file(request: Request, caller: Viewer, run_id: int, index: int) -> Response:
    """A recorded run's output file."""
    return download(run_file(app_db(request), run_id, index))


@router.get("/runs/jobs/{job_id}/files/{index}")
def download_job_file(request: Request, caller: Viewer, job_id: int, index: int) -> Response:
    """A Run now job's output file (dry runs included)."""
    return download(job_file(app_db(request), job_id, index))
