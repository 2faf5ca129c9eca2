"""What every command shares: the ``--config`` option, settings loading, output consoles."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from memberkit.cli.output import print_json, stderr, stdout
from memberkit.config import DEFAULT_CONFIG_NAME, Settings, load_settings
from memberkit.errors import ConfigNotFoundError, UsageError

# The consoles and print_json live in cli.output; commands import them from here too.
__all__ = [
    "ConfigOption",
    "JsonOption",
    "load",
    "parse_date_option",
    "print_json",
    "stderr",
    "stdout",
]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (TOML). Default: ./memberkit.toml (made by memberkit init).",
        dir_okay=False,
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def load(config: Path | None, **overrides: Any) -> Settings:
    """Settings from the config file, environment and these flag overrides (``section__key``).

    Every command that reads or writes data comes here. Without ``--config`` and
    without ``./memberkit.toml`` it stops (nothing is read, no database or folder
    is created): built-in defaults would put a new database and folders wherever
    the command happened to run. ``memberkit init`` is the way to start a store.
    """
    if config is None:
        found = Path.cwd() / DEFAULT_CONFIG_NAME
        if not found.is_file():
            raise ConfigNotFoundError(
                f"no config: there is no {DEFAULT_CONFIG_NAME} in {Path.cwd()} and no --config "
                "was given; nothing was read or created"
            )
        if stderr.is_terminal:
            # On a terminal, say which file an implicit config is; cron logs stay quiet.
            stderr.print(f"config: {found}", style="dim")
    return load_settings(config, overrides={k.replace("__", "."): v for k, v in overrides.items()})


def cli_actor() -> str:
    """Who is acting, for the ledger, tier history and events: ``cli:`` plus the OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = "unknown"
    return f"cli:{user}"


def parse_date_option(value: str | None, *, option: str) -> Any:
    """Parse a ``YYYY-MM-DD`` flag value; a malformed one is a usage error (exit 2)."""
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"{option}: expected a date as YYYY-MM-DD, got {value!r}") from None
