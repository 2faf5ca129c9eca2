"""Sign in and sign out: /login (the one page open to everyone) and /logout."""

from __future__ import annotations

import datetime as dt
import hmac

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from memberkit.errors import MemberkitError
from memberkit.services import users as user_service
from memberkit.web.deps import CSRF_FIELD, Viewer, app_db, app_settings, session_of
from memberkit.web.rendering import render
from memberkit.web.session import COOKIE_NAME, SessionCodec, SessionData, new_session

router = APIRouter(include_in_schema=False)


def set_session_cookie(request: Request, response: Response, data: SessionData) -> None:
    """Set the signed session cookie: HttpOnly, SameSite=Lax, Secure on https or when asked."""
    settings = app_settings(request)
    codec: SessionCodec = request.app.state.sessions
    response.set_cookie(
        COOKIE_NAME,
        codec.dumps(data),
        max_age=settings.web.session_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" or settings.web.secure_cookies,
    )


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or a full URL) is followed after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(
    request: Request, session: SessionData, *, error: str | None, email: str, status: int
) -> Response:
    request.state.csrf_token = session.csrf_token
    response = render(
        request,
        "auth/login.html",
        {"error": error, "email": email, "next": _safe_next(request.query_params.get("next"))},
        status_code=status,
    )
    set_session_cookie(request, response, session)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    """The sign-in form (an anonymous session carries its CSRF token)."""
    session = session_of(request) or new_session(None)
    return _login_page(request, session, error=None, email="", status=200)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the form's CSRF token and the credentials; start a session on success."""
    settings = app_settings(request)
    form = await request.form()
    email = str(form.get("email") or "")
    password = str(form.get("password") or "")
    sent = str(form.get(CSRF_FIELD) or "")
    session = session_of(request)
    if session is None or not sent or not hmac.compare_digest(sent, session.csrf_token):
        fresh = new_session(None)
        return _login_page(
            request,
            fresh,
            error="the form had expired; please sign in again",
            email=email,
            status=403,
        )
    address = request.client.host if request.client else "unknown"
    try:
        user = user_service.authenticate(
            app_db(request),
            email=email,
            password=password,
            address=address,
            max_failures=settings.web.login_max_failures,
            window=dt.timedelta(minutes=settings.web.login_window_minutes),
        )
    except MemberkitError as exc:
        status = 429 if exc.code == "login_rate_limited" else 401
        return _login_page(request, session, error=exc.message, email=email, status=status)
    target = _safe_next(str(form.get("next") or "/"))
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, new_session(user.id))
    return response


@router.post("/logout")
def logout(request: Request, caller: Viewer) -> Response:
    """End the session (the cookie is replaced by an anonymous one)."""
    response = RedirectResponse("/login", status_code=303)
    set_session_cookie(request, response, new_session(None))
    return response
