"""``memberkit rewards ...``: the daily rewards update."""

from __future__ import annotations

import typer

app = typer.Typer(help="The daily member-rewards update.", no_args_is_help=True)
