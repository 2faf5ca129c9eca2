"""Members: search, a member's page (balance, lots, ledger, codes, tiers), manual points."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from memberkit.config import Settings
from memberkit.domain.ledger import parse_points
from memberkit.errors import InvalidValueError, MemberkitError
from memberkit.services import admin_views
from memberkit.services.ledger import points as ledger
from memberkit.services.ledger.members import MemberRef, show_member
from memberkit.services.ledger.points import PostingResult
from memberkit.services.program_settings import effective_settings
from memberkit.services.redemption_client import redeem_from_catalogue
from memberkit.store.database import Database
from memberkit.web.deps import Operator, Viewer, app_db, app_settings
from memberkit.web.rendering import STATUS_FOR_CODE, render

router = APIRouter(include_in_schema=False)

ACTIONS = ("add", "deduct", "set")
_NOTE_LIMIT = 2000


def _clean_note(value: Any) -> str | None:
    text = str(value or "").strip()
    if len(text) > _NOTE_LIMIT:
        raise InvalidValueError(f"a note may have at most {_NOTE_LIMIT} characters")
    return text or None


def _parse_date(value: Any) -> dt.date | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidValueError(f"expiry: expected a date as YYYY-MM-DD, got {text!r}") from None


def post_points(
    db: Database,
    settings: Settings,
    *,
    member: MemberRef,
    action: str,
    points: str,
    note: Any = None,
    internal_note: Any = None,
    expires: Any = None,
    key: str | None = None,
    actor: str,
) -> PostingResult:
    """Add, deduct or set points as a person asked in the page or the API (one service call)."""
    if action not in ACTIONS:
        raise InvalidValueError(f"unknown action {action!r}; use add, deduct or set")
    amount = parse_points(str(points), allow_zero=action == "set")
    common: dict[str, Any] = {
        "actor": actor,
        "member": member,
        "zone": settings.processing.zone,
        "public_note": _clean_note(note),
        "internal_note": _clean_note(internal_note),
        "key": key,
    }
    if action == "add":
        return ledger.add_points(db, points=amount, expires_on=_parse_date(expires), **common)
    if action == "deduct":
        return ledger.deduct_points(db, points=amount, **common)
    return ledger.set_balance(db, target=amount, expires_on=_parse_date(expires), **common)


@router.get("/members")
def search(request: Request, caller: Viewer, q: str = "", page: int = 1) -> Response:
    """Search members by email, name or Shopify id."""
    results = admin_views.search_members(app_db(request), query=q[:320], page=page)
    return render(request, "members/search.html", {"results": results, "q": q})


def _member_page(
    request: Request,
    member_id: int,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    db = app_db(request)
    member = show_member(db, member=member_id)
    entries = ledger.history(db, member=member_id)
    actors = admin_views.entry_actors(db, member_id)
    posted = request.query_params.get("posted")
    settings = app_settings(request)
    return render(
        request,
        "members/member.html",
        {
            "member": member,
            "entries": list(reversed(entries))[:500],
            "entry_count": len(entries),
            "actors": actors,
            "lots": admin_views.open_lots(db, member_id),
            "error": error,
            "posted": posted,
            "form": form or {},
            # A fresh idempotency key per form: a double submit posts once.
            "posting_key": secrets.token_urlsafe(16),
            "redeem_key": secrets.token_urlsafe(16),
            "catalogue": effective_settings(db, settings).rewards.catalogue,
            "redeemed": request.query_params.get("redeemed"),
        },
        status_code=status,
    )


@router.get("/members/{member_id}")
def member_page(request: Request, caller: Viewer, member_id: int) -> Response:
    """One member: profile, balance, lots, ledger with notes and who posted, codes, tiers."""
    return _member_page(request, member_id)


@router.post("/members/{member_id}/points")
async def change_points(request: Request, caller: Operator, member_id: int) -> Response:
    """Manual add, deduct or set (operators and admins); back to the member page."""
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    key = fields.get("key", "").strip()
    try:
        result = post_points(
            app_db(request),
            app_settings(request),
            member=member_id,
            action=fields.get("action", ""),
            points=fields.get("points", ""),
            note=fields.get("note"),
            internal_note=fields.get("internal_note"),
            expires=fields.get("expires"),
            key=f"web:{key}"[:200] if key else None,
            actor=caller.actor,
        )
    except MemberkitError as exc:
        status = STATUS_FOR_CODE.get(exc.code, 422)
        message = exc.message + (f" ({exc.hint})" if exc.hint and exc.code != "not_found" else "")
        if exc.code == "not_found":
            raise
        return _member_page(request, member_id, error=message, status=status, form=fields)
    posted = result.entry.id if result.entry is not None else "none"
    return RedirectResponse(f"/members/{member_id}?posted={posted}", status_code=303)


@router.post("/members/{member_id}/redemptions")
async def redeem_reward(request: Request, caller: Operator, member_id: int) -> Response:
    """Redeem a catalogue reward for the member (operators and admins); back to the page.

    The form carries a fresh key, so a double submit or a retry after an error
    creates one code at most (``services.redemption``).
    """
    form = await request.form()
    reward = str(form.get("reward") or "")
    key = str(form.get("key") or "").strip() or secrets.token_urlsafe(16)
    if effective_settings(app_db(request), app_settings(request)).rewards.find(reward) is None:
        message = f"choose a reward from the catalogue (got {reward[:80]!r})"
        return _member_page(request, member_id, error=message, status=422)
    try:
        done = await run_in_threadpool(
            redeem_from_catalogue,
            app_db(request),
            app_settings(request),
            member=member_id,
            reward=reward,
            key=f"web:{key}"[:200],
            actor=caller.actor,
        )
    except MemberkitError as exc:
        if exc.code == "not_found":
            raise
        status = STATUS_FOR_CODE.get(exc.code, 422)
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return _member_page(request, member_id, error=message, status=status)
    return RedirectResponse(f"/members/{member_id}?redeemed={done.code}", status_code=303)
