"""Rendering pages: the Jinja2 environment (autoescaping everything), and errors as pages or JSON.

Every value from a file, a member or a user reaches HTML through Jinja2 with
autoescape on; no template marks anything ``|safe`` except the SVG chart,
which ``web.chart`` builds from numbers and escapes its labels itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from memberkit import __version__
from memberkit.secrets import redact

TEMPLATES = Path(__file__).parent / "templates"

# The HTTP status each error code of the core is shown with.
STATUS_FOR_CODE: dict[str, int] = {
    "not_found": 404,
    "value_invalid": 422,
    "usage_invalid": 422,
    "input_file_invalid": 422,
    "config_invalid": 500,
    "config_not_found": 500,
    "insufficient_points": 409,
    "idempotency_conflict": 409,
    "ledger_refused": 409,
    "reversal_refused": 409,
    "locked": 409,
    "import_refused": 409,
    "import_state": 409,
    "login_refused": 401,
    "login_rate_limited": 429,
    # Shopify refused the code or was unreachable (the points were given back).
    "redemption_refused": 502,
    "redemption_needs_customer": 409,
    "shopify_unavailable": 503,
    "shopify_auth": 502,
}


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def make_environment() -> Environment:
    """The template environment: autoescape for every template, strict undefined names."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["number"] = _number
    env.globals["version"] = __version__
    return env


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """The page ``template`` with ``context`` plus the caller and the CSRF token."""
    env: Environment = request.app.state.templates
    caller = getattr(request.state, "current_user", None)
    csrf = caller.csrf_token if caller is not None else getattr(request.state, "csrf_token", "")
    html = env.get_template(template).render(
        request=request, user=caller, csrf_token=csrf, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status_code)


def wants_json(request: Request) -> bool:
    """API paths and callers that ask for JSON get JSON errors."""
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def error_response(
    request: Request, status: int, message: str, *, hint: str | None = None, code: str = "error"
) -> Response:
    """An error as JSON (API) or as the error page (browser); secrets redacted."""
    message = redact(message)
    hint = redact(hint) if hint else None
    if wants_json(request):
        return JSONResponse(
            {"error": {"code": code, "message": message, "hint": hint}}, status_code=status
        )
    return render(
        request,
        "error.html",
        {"status": status, "message": message, "hint": hint},
        status_code=status,
    )
