"""What every command shares: the ``--config`` option, settings loading, output consoles."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from memberkit.config import Settings, load_settings
from memberkit.errors import UsageError

# stdout carries results (tables, --json); stderr carries progress and problems.
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (TOML). Default: ./memberkit.toml if present.",
        dir_okay=False,
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def load(config: Path | None, **overrides: Any) -> Settings:
    """Settings from the config file, environment and these flag overrides (``section__key``)."""
    return load_settings(config, overrides={k.replace("__", "."): v for k, v in overrides.items()})


def cli_actor() -> str:
    """Who is acting, for the ledger, tier history and events: ``cli:`` plus the OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = "unknown"
    return f"cli:{user}"


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout; Decimals and dates become strings."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def parse_date_option(value: str | None, *, option: str) -> Any:
    """Parse a ``YYYY-MM-DD`` flag value; a malformed one is a usage error (exit 2)."""
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"{option}: expected a date as YYYY-MM-DD, got {value!r}") from None
