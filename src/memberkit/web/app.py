"""The application factory: ``create_app(settings)`` builds the admin on the service layer.

What it wires: the database (opened once), the session codec and its key,
the templates, the middleware (security headers, body-size limit), the error
handlers (one way of showing errors everywhere: a page in the browser, JSON
under /api), the routes (one module per page group), the worker thread that
runs imports and rewards runs, and the background loop that applies queued
Shopify webhooks and delivers events (both started with the app, stopped with it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from memberkit import __version__
from memberkit.config import Settings
from memberkit.errors import MemberkitError
from memberkit.store.database import open_database
from memberkit.web.background import BackgroundLoop
from memberkit.web.deps import Forbidden, LoginRequired
from memberkit.web.rendering import STATUS_FOR_CODE, error_response, make_environment
from memberkit.web.routes import (
    api,
    auth,
    dashboard,
    events,
    imports,
    members,
    runs,
    shopify_webhooks,
)
from memberkit.web.routes import settings as settings_routes
from memberkit.web.security import BodyLimitMiddleware, SecurityHeadersMiddleware
from memberkit.web.session import SessionCodec, load_secret_key
from memberkit.web.worker import Worker

STATIC = Path(__file__).parent / "static"

#: The config file a ``serve --workers N`` process loads (set by ``memberkit serve``).
CONFIG_ENV = "MEMBERKIT_SERVE_CONFIG"


def app_for_worker_process() -> FastAPI:
    """The app in one of ``serve --workers N``'s processes (uvicorn calls this).

    The process dies with ``serve`` (a SIGKILLed ``serve`` leaves no server
    process behind holding the port or a job).
    """
    import os

    from memberkit.config import load_settings
    from memberkit.processes import die_with_parent

    die_with_parent(os.getppid())
    return create_app(load_settings(Path(os.environ[CONFIG_ENV])))


def create_app(settings: Settings, *, start_worker: bool = True) -> FastAPI:
    """The web admin for ``settings`` (``start_worker=False``: requests only, for tests)."""
    db = open_database(settings.database.url)
    worker = Worker(settings, db)
    background = BackgroundLoop(settings, db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_worker:
            worker.start()
            background.start()
        try:
            yield
        finally:
            background.stop()
            worker.stop()
            db.dispose()

    app = FastAPI(
        title="memberkit admin API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.worker = worker
    app.state.templates = make_environment()
    app.state.sessions = SessionCodec(
        load_secret_key(settings), max_age_seconds=settings.web.session_hours * 3600
    )

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.web.max_upload_mb * 1024 * 1024)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    for module in (auth, dashboard, members, imports, runs, events, settings_routes, api):
        app.include_router(module.router)
    # Signed by Shopify (HMAC over the body), not by a session: no role, no CSRF.
    app.include_router(shopify_webhooks.router)
    app.include_router(api.docs_router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return error_response(
                request, 401, "sign in, or send Authorization: Bearer TOKEN", code="login_required"
            )
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return error_response(request, 403, exc.message, code="forbidden")

    @app.exception_handler(MemberkitError)
    async def memberkit_error(request: Request, exc: MemberkitError) -> Response:
        status = STATUS_FOR_CODE.get(exc.code, 500)
        return error_response(request, status, exc.message, hint=exc.hint, code=exc.code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}"
            for e in exc.errors()
        )
        return error_response(request, 422, f"the request is not valid: {problems}", code="invalid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail), code="http_error")


def _quote(target: str) -> str:
    from urllib.parse import quote

    return quote(target, safe="/")
