"""``memberkit init [DIR]``: a commented example config and the working folders."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from memberkit.cli.common import stdout
from memberkit.config import DEFAULT_CONFIG_NAME
from memberkit.errors import UsageError

FOLDERS = ("input", "output", "logs", "cache")


def example_config_text() -> str:
    return resources.files("memberkit").joinpath("templates/memberkit.toml").read_text("utf-8")


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to set up.")] = Path(),
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing memberkit.toml.")
    ] = False,
) -> None:
    """Write a commented example memberkit.toml and create input/ output/ logs/ cache/."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / DEFAULT_CONFIG_NAME
    if config.exists() and not force:
        raise UsageError(
            f"{config} already exists; nothing was changed",
            hint="pass --force to replace it",
        )
    for name in FOLDERS:
        (directory / name).mkdir(exist_ok=True)
    tmp = config.with_name(config.name + ".tmp")
    tmp.write_text(example_config_text(), encoding="utf-8")
    tmp.replace(config)
    stdout.print(f"Wrote {config} and created {', '.join(n + '/' for n in FOLDERS)} in {directory}")
