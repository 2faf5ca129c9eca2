"""``memberkit serve``: the web admin, with its worker for imports and rewards runs."""

from __future__ import annotations

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
    config: ConfigOption = None,
) -> None:
    """Serve the web admin (sign in with a user from `memberkit users add`)."""
    import uvicorn

    from memberkit.web.app import create_app

    settings = load(config, web__host=host, web__port=port)
    app = create_app(settings)
    stderr.print(f"memberkit admin on http://{settings.web.host}:{settings.web.port}/")
    uvicorn.run(
        app,
        host=settings.web.host,
        port=settings.web.port,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
    )
