"""The JSON API under /api/v1: the pages' operations for scripts, with personal API tokens.

``Authorization: Bearer mk_...`` (from ``memberkit users token EMAIL``) signs a
request in as the token's user, with that user's role; no CSRF token is needed.
A browser session works too (then state changes need the CSRF header). The
OpenAPI description is at /openapi.json and readable at /docs (signed in).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from memberkit.services import admin_views, jobs
from memberkit.services import imports as import_service
from memberkit.services.ledger import points as ledger
from memberkit.services.ledger.members import show_member
from memberkit.services.redemption_client import redeem_from_catalogue
from memberkit.services.rewards.mirror import recent_rewards_runs
from memberkit.web.deps import Operator, Viewer, app_db, app_settings
from memberkit.web.rendering import render
from memberkit.web.routes import imports as import_routes
from memberkit.web.routes import runs as run_routes
from memberkit.web.routes.members import post_points

router = APIRouter(prefix="/api/v1", tags=["api"])
docs_router = APIRouter(include_in_schema=False)

Json = dict[str, Any]


class PointsRequest(BaseModel):
    """A manual posting: add, deduct or set, with notes."""

    action: str = Field(description="add, deduct or set")
    points: int = Field(ge=0, description="points to add or deduct, or the new balance")
    note: str | None = Field(default=None, description="customer-facing note")
    internal_note: str | None = Field(default=None, description="note for staff only")
    expires: str | None = Field(default=None, description="YYYY-MM-DD, last day points count")
    key: str | None = Field(default=None, description="idempotency key: a repeat posts once")


class RedemptionRequest(BaseModel):
    """Redeem a catalogue reward for the member."""

    reward: str = Field(description="the reward's name in [[rewards.catalogue]] (any case)")
    key: str = Field(
        min_length=1,
        max_length=150,
        description="idempotency key: a repeat returns the same code, never a second one",
    )


class RunRequest(BaseModel):
    """Run the rewards update now."""

    dry_run: bool = False


@router.get("/members")
def members(request: Request, caller: Viewer, q: str = "", page: int = 1) -> Json:
    """Search members by email, name or Shopify id (50 a page)."""
    return admin_views.search_members(app_db(request), query=q[:320], page=page).to_json()


@router.get("/members/{member_id}")
def member(request: Request, caller: Viewer, member_id: int) -> Json:
    """A member's profile, tier, points, codes and tier history."""
    data = show_member(app_db(request), member=member_id).to_json()
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}


@router.get("/members/{member_id}/balance")
def balance(request: Request, caller: Viewer, member_id: int) -> Json:
    """A member's balance and open lots."""
    db = app_db(request)
    found, points = ledger.get_balance(db, member=member_id)
    lots = admin_views.open_lots(db, member_id)
    return {
        "member_id": found,
        "balance": points,
        "lots": [
            {
                "entry_id": lot.entry_id,
                "points": lot.points,
                "remaining": lot.remaining,
                "expires_on": lot.expires_on.isoformat() if lot.expires_on else None,
            }
            for lot in lots
        ],
    }


@router.get("/members/{member_id}/history")
def history(request: Request, caller: Viewer, member_id: int) -> Json:
    """Every ledger entry of a member with its running balance and who posted it."""
    db = app_db(request)
    actors = admin_views.entry_actors(db, member_id)
    entries = [
        {**e.to_json(), "actor": actors.get(e.id)} for e in ledger.history(db, member=member_id)
    ]
    return {"member_id": member_id, "entries": entries}


@router.post("/members/{member_id}/points")
def points(request: Request, caller: Operator, member_id: int, body: PointsRequest) -> Json:
    """Add, deduct or set a member's points (operators and admins)."""
    result = post_points(
        app_db(request),
        app_settings(request),
        member=member_id,
        action=body.action,
        points=str(body.points),
        note=body.note,
        internal_note=body.internal_note,
        expires=body.expires,
        key=f"api:{body.key}"[:200] if body.key else None,
        actor=caller.actor,
    )
    return result.to_json()


@router.post("/members/{member_id}/redemptions", status_code=201)
def redemptions(
    request: Request, caller: Operator, member_id: int, body: RedemptionRequest
) -> Json:
    """Points for a one-use Shopify code in the member's codes (operators and admins)."""
    done = redeem_from_catalogue(
        app_db(request),
        app_settings(request),
        member=member_id,
        reward=body.reward,
        key=f"api:{body.key}",
        actor=caller.actor,
    )
    return done.to_json()


@router.get("/imports")
def imports(request: Request, caller: Viewer) -> Json:
    """The latest imports, newest first, and whether one may start now."""
    db = app_db(request)
    return {
        "imports": [r.to_json() for r in import_service.list_imports(db, limit=50)],
        "busy": import_routes.busy_reason(db),
    }


@router.post("/imports", status_code=201)
async def start_import(request: Request, caller: Operator) -> Json:
    """Upload a file (multipart: ``kind``, ``file``, options) and validate it; nothing applied."""
    form = await request.form()
    record = import_routes.create_from_upload(
        app_db(request), app_settings(request), form=form, actor=caller.actor
    )
    return record.to_json()


@router.get("/imports/{import_id}")
def import_status(request: Request, caller: Viewer, import_id: int) -> Json:
    """One import's status and counts, with its latest job (queued, running, done)."""
    db = app_db(request)
    job = jobs.latest_for_import(db, import_id)
    record = import_service.get_import(db, import_id)
    return {
        **record.to_json(),
        "position": admin_views.batch_position(db, record.batch_id),
        "job": job.to_json() if job else None,
    }


@router.post("/imports/{import_id}/apply", status_code=202)
def apply_import(request: Request, caller: Operator, import_id: int) -> Json:
    """Queue a ready import for applying."""
    return import_routes.start_apply(app_db(request), import_id, actor=caller.actor).to_json()


@router.post("/imports/{import_id}/undo", status_code=202)
def undo_import(request: Request, caller: Operator, import_id: int) -> Json:
    """Queue the undo of a completed import."""
    return import_routes.start_undo(app_db(request), import_id, actor=caller.actor).to_json()


@router.get("/imports/{import_id}/files/{which}")
def import_file(request: Request, caller: Viewer, import_id: int, which: str) -> Response:
    """Download an import's ``error``, ``results`` or ``original`` file."""
    record = import_service.get_import(app_db(request), import_id)
    return import_routes.download(import_routes.owned_file(app_settings(request), record, which))


@router.get("/runs")
def runs(request: Request, caller: Viewer) -> Json:
    """Recorded rewards runs and the latest Run now jobs."""
    db = app_db(request)
    return {
        "runs": [r.to_json() for r in recent_rewards_runs(db, limit=50)],
        "jobs": [j.to_json() for j in jobs.list_jobs(db, kind="rewards_run", limit=20)],
    }


@router.post("/runs", status_code=202)
def run_now(request: Request, caller: Operator, body: RunRequest) -> Json:
    """Queue the rewards update (``dry_run``: outputs to output/dry-run only)."""
    return run_routes.request_run(
        app_db(request), dry_run=body.dry_run, actor=caller.actor
    ).to_json()


@router.get("/jobs/{job_id}")
def job(request: Request, caller: Viewer, job_id: int) -> Json:
    """A queued, running or finished job (an import apply or undo, a rewards run)."""
    return jobs.get_job(app_db(request), job_id).to_json()


@router.get("/dashboard")
def dashboard(request: Request, caller: Viewer) -> Json:
    """The dashboard's figures and 90 days of points per day."""
    return admin_views.dashboard(app_db(request)).to_json()


@docs_router.get("/openapi.json")
def openapi(request: Request, caller: Viewer) -> JSONResponse:
    """The OpenAPI description of /api/v1 (signed in)."""
    return JSONResponse(request.app.openapi())


@docs_router.get("/docs")
def docs(request: Request, caller: Viewer) -> HTMLResponse:
    """The API reference, rendered from the OpenAPI description (no CDN, no scripts)."""
    spec = request.app.openapi()
    operations = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [p.get("name", "") for p in op.get("parameters", [])],
                    "body": bool(op.get("requestBody")),
                }
            )
    return render(request, "docs.html", {"operations": operations, "spec": spec})
