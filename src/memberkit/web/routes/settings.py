"""Settings: tiers (add, rename, reorder, entry rewards), users (admins), the effective config."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import make_url

from memberkit.config import Settings
from memberkit.errors import ConfigError, InvalidValueError, MemberkitError
from memberkit.services import program_settings, tier_admin
from memberkit.services import users as user_service
from memberkit.services.ledger.tiers import list_tiers
from memberkit.web.deps import Admin, Viewer, app_db, app_settings
from memberkit.web.rendering import STATUS_FOR_CODE, render
from memberkit.web.session import SECRET_KEY_ENV

router = APIRouter(include_in_schema=False)

#: Secrets memberkit reads (environment or config/api.env); shown only as set or not set.
SECRET_NAMES = ("KLAVIYO_PRIVATE_KEY", "SHOPIFY_ACCESS_TOKEN", SECRET_KEY_ENV)


def effective_config(settings: Settings) -> list[tuple[str, str]]:
    """Every setting as ``(section.key, value)``, the database password and secrets masked."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(f"{prefix}.{f.name}" if prefix else f.name, getattr(value, f.name))
            return
        if prefix == "database.url":
            value = make_url(str(value)).render_as_string(hide_password=True)
        elif isinstance(value, Path):
            value = str(value)
        rows.append((prefix, "" if value is None else str(value)))

    for f in dataclasses.fields(settings):
        if f.name in ("config_path", "base_dir"):
            continue
        walk(f.name, getattr(settings, f.name))
    for name in SECRET_NAMES:
        import os

        present = settings.secret(name) is not None or (
            name == SECRET_KEY_ENV and bool(os.environ.get(name))
        )
        rows.append((f"secret {name}", "**** (set)" if present else "not set"))
    return rows


def _int_or_none(value: Any, label: str) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise InvalidValueError(f"{label} must be a whole number, got {text!r}")
    return int(text)


def _page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    db = app_db(request)
    caller = request.state.current_user
    try:
        effective = program_settings.effective_settings(db, app_settings(request))
    except ConfigError as exc:
        # A saved value the current config no longer accepts: show the page anyway,
        # so an admin can save a fixed value or reset to the config file.
        effective = app_settings(request)
        error = f"{exc.message} (save a new value, or use the config file again)"
    return render(
        request,
        "settings/index.html",
        {
            "tiers": list_tiers(db),
            "users": user_service.list_users(db) if caller.can("admin") else [],
            "audit": user_service.list_audit(db, limit=50) if caller.can("admin") else [],
            "config": effective_config(effective),
            "earning": effective.earning,
            "catalogue": effective.rewards.catalogue,
            "saved": program_settings.stored(db),
            "config_path": app_settings(request).config_path,
            "roles": user_service.ROLES,
            "error": error,
        },
        status_code=status,
    )


@router.get("/settings")
def settings_page(request: Request, caller: Viewer) -> Response:
    """Tiers and the effective configuration (users and the audit log for admins)."""
    return _page(request)


async def _admin_change(request: Request, change: Any) -> Response:
    form = await request.form()
    try:
        change(form)
    except MemberkitError as exc:
        # A setting typed into a form is the user's input: 422, not the 500 a bad
        # config file is.
        status = 422 if exc.code == "config_invalid" else STATUS_FOR_CODE.get(exc.code, 422)
        return _page(request, error=exc.message, status=status)
    return RedirectResponse("/settings", status_code=303)


@router.post("/settings/tiers")
async def add_tier(request: Request, caller: Admin) -> Response:
    """Add a tier."""
    db = app_db(request)
    return await _admin_change(
        request,
        lambda form: tier_admin.add_tier(
            db,
            name=str(form.get("name") or ""),
            threshold=_int_or_none(form.get("threshold"), "threshold"),
            entry_reward_points=_int_or_none(form.get("entry_reward_points"), "entry reward"),
            actor=caller.actor,
        ),
    )


@router.post("/settings/tiers/{tier_id}")
async def update_tier(request: Request, caller: Admin, tier_id: int) -> Response:
    """Rename a tier and set its threshold and entry reward."""
    db = app_db(request)

    def change(form: Any) -> None:
        name = str(form.get("name") or "").strip()
        current = next((t for t in list_tiers(db) if t.id == tier_id), None)
        if current is not None and name and name != current.name:
            tier_admin.rename_tier(db, tier_id=tier_id, new=name, actor=caller.actor)
        tier_admin.set_tier_values(
            db,
            tier_id=tier_id,
            threshold=_int_or_none(form.get("threshold"), "threshold"),
            entry_reward_points=_int_or_none(form.get("entry_reward_points"), "entry reward"),
            actor=caller.actor,
        )

    return await _admin_change(request, change)


@router.post("/settings/tiers/{tier_id}/move")
async def move_tier(request: Request, caller: Admin, tier_id: int) -> Response:
    """Move a tier up or down one rank."""
    db = app_db(request)
    return await _admin_change(
        request,
        lambda form: tier_admin.move_tier(
            db, tier_id=tier_id, direction=str(form.get("direction") or ""), actor=caller.actor
        ),
    )


@router.post("/settings/users")
async def add_user(request: Request, caller: Admin) -> Response:
    """Add a user with a role and a first password."""
    db = app_db(request)
    return await _admin_change(
        request,
        lambda form: user_service.create_user(
            db,
            email=str(form.get("email") or ""),
            role=str(form.get("role") or ""),
            password=str(form.get("password") or ""),
            actor=caller.actor,
        ),
    )


@router.post("/settings/users/{email}/role")
async def set_role(request: Request, caller: Admin, email: str) -> Response:
    """Change a user's role."""
    db = app_db(request)
    return await _admin_change(
        request,
        lambda form: user_service.set_role(
            db, email=email, role=str(form.get("role") or ""), actor=caller.actor
        ),
    )


@router.post("/settings/users/{email}/disable")
async def disable_user(request: Request, caller: Admin, email: str) -> Response:
    """Disable (or enable again) a user."""
    db = app_db(request)

    def change(form: Any) -> None:
        enable = str(form.get("enable") or "") == "1"
        if not enable and email.strip().lower() == caller.email.lower():
            raise InvalidValueError("you cannot disable your own account")
        user_service.set_disabled(db, email=email, disabled=not enable, actor=caller.actor)

    return await _admin_change(request, change)


# The earning rules and the catalogue: saved in the database, they win over the
# config file until reset (services/program_settings.py says why).
CATALOGUE_FIELDS = (
    "name",
    "points_cost",
    "value_type",
    "value",
    "min_spend",
    "validity_days",
    "code_prefix",
)


@router.post("/settings/earning")
async def save_earning(request: Request, caller: Admin) -> Response:
    """Save the earning rules (they then win over the config file's [earning])."""
    db = app_db(request)
    settings = app_settings(request)

    def change(form: Any) -> None:
        fields = {
            key: str(form.get(key) or "")
            for key in program_settings.EARNING_KEYS
            if form.get(key) is not None
        }
        values = program_settings.earning_from_form(fields)
        program_settings.save(db, settings, values, actor=caller.actor)

    return await _admin_change(request, change)


@router.post("/settings/catalogue")
async def save_catalogue(request: Request, caller: Admin) -> Response:
    """Save the rewards catalogue (it then wins over the config file's [[rewards.catalogue]])."""
    db = app_db(request)
    settings = app_settings(request)

    def change(form: Any) -> None:
        rows: list[dict[str, str]] = []
        index = 0
        while f"name_{index}" in form and index < 200:
            rows.append({f: str(form.get(f"{f}_{index}") or "") for f in CATALOGUE_FIELDS})
            index += 1
        catalogue = program_settings.catalogue_from_form(rows)
        program_settings.save(
            db, settings, {program_settings.CATALOGUE_KEY: catalogue}, actor=caller.actor
        )

    return await _admin_change(request, change)


@router.post("/settings/program/reset")
async def reset_program(request: Request, caller: Admin) -> Response:
    """Forget what was saved here: the config file's earning rules and catalogue apply again."""
    db = app_db(request)
    return await _admin_change(
        request, lambda _form: program_settings.reset(db, actor=caller.actor)
    )
