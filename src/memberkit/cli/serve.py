"""``memberkit serve``: the web admin, with its worker for imports and rewards runs.

With ``web.workers`` (``--workers``) above 1, uvicorn runs that many server
processes, each built by ``web.app.app_for_worker_process`` from the same
config file. They share everything through the database: sessions (one
signing key, made here before they start), login limits, queued jobs (claimed
with row locks), the delivery and webhook locks. Each dies with this process.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from memberkit.cli.common import ConfigOption, load, stderr


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on.", show_default=False)
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", help="Port to listen on (default web.port, 8000).", show_default=False
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Server processes (default web.workers, 1); about one per CPU core.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Serve the web admin (sign in with a user from `memberkit users add`)."""
    import uvicorn

    from memberkit.web.app import CONFIG_ENV, create_app
    from memberkit.web.session import load_secret_key

    settings = load(config, web__host=host, web__port=port, web__workers=workers)
    options = {
        "host": settings.web.host,
        "port": settings.web.port,
        "log_level": "warning",
        "proxy_headers": False,
        "server_header": False,
    }
    stderr.print(
        f"memberkit admin on http://{settings.web.host}:{settings.web.port}/"
        + (f" ({settings.web.workers} processes)" if settings.web.workers > 1 else "")
    )
    if settings.web.workers == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    load_secret_key(settings)  # generated once, here, so every process signs alike
    os.environ[CONFIG_ENV] = str(settings.config_path)
    uvicorn.run(
        "memberkit.web.app:app_for_worker_process",
        factory=True,
        workers=settings.web.workers,
        **options,  # type: ignore[arg-type]
    )
