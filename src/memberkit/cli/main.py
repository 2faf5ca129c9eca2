"""The ``memberkit`` command: the top-level app, sub-command groups, and error rendering.

Every ``MemberkitError`` raised below becomes one line on stderr (plus a hint)
and its exit code; a malformed argument is exit 2 (Click's own usage errors).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from memberkit import __version__
from memberkit.cli import init_cmd, klaviyo, rewards
from memberkit.cli.common import stderr
from memberkit.errors import MemberkitError


def report_error(exc: MemberkitError) -> None:
    stderr.print(f"[bold red]Error:[/] {exc.message}", markup=True, highlight=False)
    if exc.hint:
        stderr.print(f"Hint: {exc.hint}", markup=False)


class MemberkitGroup(TyperGroup):
    """Renders domain errors as one actionable line and the right exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MemberkitError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=MemberkitGroup,
    name="memberkit",
    help="Run a Shopify store's member rewards: reward codes, points, imports, Klaviyo sync.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"memberkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """memberkit: the daily rewards update, points ledger and integrations."""


app.command("init")(init_cmd.init)
app.add_typer(rewards.app, name="rewards")
app.add_typer(klaviyo.app, name="klaviyo")


def main() -> None:
    """Console-script entry point."""
    app()
