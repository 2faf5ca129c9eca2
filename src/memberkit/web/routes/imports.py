"""Import loyalty data: templates, upload and validation, confirm, live progress, files, undo.

Validation runs in the request (it reads the file once and applies nothing);
applying and undoing are queued for the worker (``web.worker``), so the page
returns at once and polls the import's progress from the database.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from memberkit.config import Settings
from memberkit.errors import InvalidValueError, MemberkitError, NotFoundError
from memberkit.services import admin_views, jobs
from memberkit.services import imports as import_service
from memberkit.services.imports import IMPORT_KINDS, ImportOptions, ImportRecord
from memberkit.store.database import Database
from memberkit.web.deps import Operator, Viewer, app_db, app_settings
from memberkit.web.rendering import render
from memberkit.web.uploads import detect_kind, label_for, save_upload

router = APIRouter(include_in_schema=False)

FILE_KINDS = ("error", "results", "original")


def busy_reason(db: Database) -> str | None:
    """Why no import may start now (another one is queued or in progress), or None."""
    running = import_service.running_import(db)
    if running is not None:
        return f"import {running.describe()} is in progress"
    for job in jobs.active_jobs(db):
        if job.kind in ("import_apply", "import_undo"):
            what = "applied" if job.kind == "import_apply" else "undone"
            return f"import #{job.import_id} is being {what}"
    return None


def _checked(form: Any, name: str) -> bool:
    return str(form.get(name) or "").lower() in ("1", "on", "true", "yes")


def create_from_upload(db: Database, settings: Settings, *, form: Any, actor: str) -> ImportRecord:
    """Validate an uploaded file as a new import (the page's and the API's upload)."""
    kind = str(form.get("kind") or "")
    if kind not in IMPORT_KINDS:
        raise InvalidValueError(
            f"unknown import kind {kind!r}; use one of {', '.join(IMPORT_KINDS)}"
        )
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidValueError("choose a file to upload")
    folder = settings.imports.storage_directory / ".uploads"
    saved = save_upload(upload.file, folder)
    try:
        label = label_for(upload.filename, detect_kind(saved))
        options = ImportOptions(
            note=str(form.get("note") or "").strip() or None,
            internal_note=str(form.get("internal_note") or "").strip() or None,
            emit_events=not _checked(form, "no_events"),
            issue_tier_rewards=_checked(form, "issue_tier_rewards"),
            allow_duplicate=_checked(form, "allow_duplicate"),
        )
        return import_service.create_import(
            db, settings, kind=kind, source=saved, original_name=label, options=options, actor=actor
        )
    finally:
        saved.unlink(missing_ok=True)


def start_apply(db: Database, import_id: int, *, actor: str) -> jobs.JobView:
    """Queue the apply of a ``ready`` import; refused while another import is busy."""
    record = import_service.get_import(db, import_id)
    if record.status not in ("ready", "interrupted"):
        raise import_service.ImportStateError(
            f"import #{import_id} is {record.status}; only a ready (or interrupted) import "
            "can be applied"
        )
    reason = busy_reason(db)
    if reason:
        raise import_service.ImportRefusedError(f"cannot start: {reason}")
    return jobs.enqueue(db, kind="import_apply", requested_by=actor, import_id=import_id)


def start_undo(db: Database, import_id: int, *, actor: str) -> jobs.JobView:
    """Queue the undo of a completed import."""
    record = import_service.get_import(db, import_id)
    if record.status not in ("completed", "interrupted"):
        raise import_service.ImportStateError(
            f"import #{import_id} is {record.status}; only a completed import can be undone"
        )
    reason = busy_reason(db)
    if reason:
        raise import_service.ImportRefusedError(f"cannot undo now: {reason}")
    return jobs.enqueue(db, kind="import_undo", requested_by=actor, import_id=import_id)


def owned_file(settings: Settings, record: ImportRecord, which: str) -> Path:
    """The error, results or original file of an import; only files inside its own folder."""
    if which not in FILE_KINDS:
        raise NotFoundError(f"no {which!r} file; use one of {', '.join(FILE_KINDS)}")
    path = {
        "error": record.error_file,
        "results": record.results_file,
        "original": record.original_file,
    }[which]
    if path is None or record.folder is None:
        raise NotFoundError(f"import #{record.id} has no {which} file")
    resolved = path.resolve()
    if not resolved.is_relative_to(record.folder.resolve()) or not resolved.is_file():
        raise NotFoundError(f"import #{record.id} has no {which} file")
    return resolved


def download(path: Path) -> FileResponse:
    """A file as an attachment (never rendered inline)."""
    media = "text/csv" if path.suffix.lower() == ".csv" else "application/octet-stream"
    return FileResponse(
        path, media_type=media, filename=path.name, content_disposition_type="attachment"
    )


def _page_context(request: Request, record: ImportRecord) -> dict[str, Any]:
    db = app_db(request)
    return {
        "record": record,
        "job": jobs.latest_for_import(db, record.id),
        "busy": busy_reason(db),
        "position": admin_views.batch_position(db, record.batch_id),
    }


@router.get("/imports")
def imports_page(request: Request, caller: Viewer) -> Response:
    """Upload form, templates and the history."""
    db = app_db(request)
    return render(
        request,
        "imports/index.html",
        {
            "kinds": IMPORT_KINDS,
            "history": import_service.list_imports(db, limit=50),
            "busy": busy_reason(db),
            "error": None,
        },
    )


@router.get("/imports/templates/{kind}")
def template(request: Request, caller: Viewer, kind: str, format: str = "csv") -> Response:
    """The template of one kind, as CSV or XLSX."""
    if kind not in IMPORT_KINDS:
        raise NotFoundError(f"no import kind {kind!r}")
    xlsx = format == "xlsx"
    folder = Path(tempfile.mkdtemp(prefix="memberkit-template-"))
    path = import_service.write_template(
        kind, folder / f"{kind}_template.{'xlsx' if xlsx else 'csv'}", xlsx=xlsx
    )

    def cleanup() -> None:
        path.unlink(missing_ok=True)
        folder.rmdir()

    response = download(path)
    response.background = BackgroundTask(cleanup)
    return response


@router.post("/imports")
async def upload(request: Request, caller: Operator) -> Response:
    """Validate an uploaded file (nothing applied yet), then show the outcome."""
    db = app_db(request)
    form = await request.form()
    try:
        record = create_from_upload(db, app_settings(request), form=form, actor=caller.actor)
    except MemberkitError as exc:
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return render(
            request,
            "imports/index.html",
            {
                "kinds": IMPORT_KINDS,
                "history": import_service.list_imports(db, limit=50),
                "busy": busy_reason(db),
                "error": message,
            },
            status_code=409 if exc.code == "import_refused" else 422,
        )
    return RedirectResponse(f"/imports/{record.id}", status_code=303)


@router.get("/imports/{import_id}")
def import_page(request: Request, caller: Viewer, import_id: int) -> Response:
    """One import: validation outcome, confirm, progress, downloads, undo."""
    record = import_service.get_import(app_db(request), import_id)
    return render(request, "imports/detail.html", _page_context(request, record))


@router.get("/imports/{import_id}/progress")
def import_progress(request: Request, caller: Viewer, import_id: int) -> Response:
    """The progress fragment htmx polls while the import is queued or running."""
    record = import_service.get_import(app_db(request), import_id)
    return render(request, "imports/_progress.html", _page_context(request, record))


@router.post("/imports/{import_id}/apply")
def apply(request: Request, caller: Operator, import_id: int) -> Response:
    """Confirm: queue the import for the worker."""
    start_apply(app_db(request), import_id, actor=caller.actor)
    return RedirectResponse(f"/imports/{import_id}", status_code=303)


@router.post("/imports/{import_id}/undo")
def undo(request: Request, caller: Operator, import_id: int) -> Response:
    """Queue the undo of an import."""
    start_undo(app_db(request), import_id, actor=caller.actor)
    return RedirectResponse(f"/imports/{import_id}", status_code=303)


@router.get("/imports/{import_id}/files/{which}")
def import_file(request: Request, caller: Viewer, import_id: int, which: str) -> Response:
    """Download the import's error, results or original file."""
    record = import_service.get_import(app_db(request), import_id)
    return download(owned_file(app_settings(request), record, which))
