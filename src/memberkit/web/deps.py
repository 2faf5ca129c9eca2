"""Who is calling: the signed-in user (session cookie) or an API token, and their role.

Every route says in its signature who may call it, with one of the typed
aliases ``Viewer``, ``Operator`` or ``Admin`` (a test walks ``app.routes`` and
fails on a route that names none, other than /login, /healthz and /static).

* A bearer token (``Authorization: Bearer mk_...``) signs the request in as the
  token's user; such requests need no CSRF token (no browser sends it on its own).
* Otherwise the session cookie must name an enabled user; a state-changing
  request must also carry the session's CSRF token in the ``csrf_token`` form
  field or the ``X-CSRF-Token`` header, or it is refused with 403 before the
  route runs, so nothing changes.
* No valid session: ``LoginRequired`` (pages redirect to /login, the API says 401).
* A role below the route's: ``Forbidden`` (403).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request

from memberkit.config import Settings
from memberkit.services import users as user_service
from memberkit.services.users import UserView
from memberkit.store.database import Database
from memberkit.web.session import COOKIE_NAME, SessionCodec, SessionData

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """No signed-in user (or an unknown token)."""


class Forbidden(Exception):
    """Signed in, but the role (or a missing CSRF token) does not allow this request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CurrentUser:
    """The caller: the user, how they signed in, and the session's CSRF token."""

    user: UserView
    via: Literal["session", "token"]
    csrf_token: str = ""
    token_name: str | None = None

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def actor(self) -> str:
        """``web:EMAIL`` in the browser, ``api:EMAIL`` with a token: stamped on every change."""
        prefix = "web" if self.via == "session" else "api"
        return f"{prefix}:{self.user.email}"

    def can(self, needed: str) -> bool:
        """Whether the role includes ``needed`` (templates hide what it does not)."""
        return self.user.can(needed)


def app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def app_db(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


def session_of(request: Request) -> SessionData | None:
    """The valid session the request's cookie holds, if any."""
    codec: SessionCodec = request.app.state.sessions
    return codec.loads(request.cookies.get(COOKIE_NAME))


async def _csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    return bool(sent) and bool(expected) and hmac.compare_digest(sent or "", expected)


async def current_user(request: Request) -> CurrentUser:
    """The caller, or ``LoginRequired``; checks CSRF on a state-changing session request."""
    cached: CurrentUser | None = getattr(request.state, "current_user", None)
    if cached is not None:
        return cached
    db = app_db(request)
    authorization = request.headers.get("authorization", "")
    found: CurrentUser | None = None
    if authorization.lower().startswith("bearer "):
        match = user_service.user_for_token(db, authorization[7:].strip())
        if match is None:
            raise LoginRequired
        found = CurrentUser(match[0], "token", token_name=match[1])
    else:
        session = session_of(request)
        if session is None or session.user_id is None:
            raise LoginRequired
        user = user_service.get_user(db, session.user_id)
        if user is None or user.disabled:
            raise LoginRequired
        if request.method not in SAFE_METHODS and not await _csrf_ok(request, session.csrf_token):
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page and retry")
        found = CurrentUser(user, "session", csrf_token=session.csrf_token)
    request.state.current_user = found
    return found


def _needs(role: str) -> Callable[[Request], Awaitable[CurrentUser]]:
    async def check(request: Request) -> CurrentUser:
        caller = await current_user(request)
        if not caller.can(role):
            raise Forbidden(f"this needs the {role} role; you are {caller.role}")
        return caller

    check.__name__ = f"require_{role}"
    check.__qualname__ = check.__name__
    return check


require_viewer = _needs("viewer")
require_operator = _needs("operator")
require_admin = _needs("admin")

#: The dependencies that declare a route's role (the route-walking test looks for these).
ROLE_DEPENDENCIES = (require_viewer, require_operator, require_admin)

Viewer = Annotated[CurrentUser, Depends(require_viewer)]
Operator = Annotated[CurrentUser, Depends(require_operator)]
Admin = Annotated[CurrentUser, Depends(require_admin)]
