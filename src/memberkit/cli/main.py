"""The ``memberkit`` command: the top-level app, sub-command groups, and error rendering.

Every ``MemberkitError`` raised below becomes one line on stderr (plus a hint)
and the exit code its ``code`` maps to in ``cli.errors``; a malformed argument
is exit 2 (Click's own usage errors).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup, TyperOption

from memberkit import __version__
from memberkit.cli import customers as customers_cli
from memberkit.cli import db as db_cli
from memberkit.cli import events as events_cli
from memberkit.cli import imports as imports_cli
from memberkit.cli import init_cmd, klaviyo, rewards
from memberkit.cli import members as members_cli
from memberkit.cli import points as points_cli
from memberkit.cli import tiers as tiers_cli
from memberkit.cli.common import stderr
from memberkit.cli.errors import exit_code_for, hint_for
from memberkit.cli.output import printable
from memberkit.errors import MemberkitError
from memberkit.secrets import redact


def _flag_placeholder(self: TyperOption, ctx: Any) -> str | None:
    """No value placeholder for a flag: ``--force``, not ``--force <bool>``."""
    if self.is_flag:
        return None
    return _option_placeholder(self, ctx)


# Typer shows every option's type in help, flags included (``--version <bool>``),
# which reads as if the flag took a value (``init --force true`` then fails).
_option_placeholder = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_placeholder  # type: ignore[method-assign]


def report_error(exc: MemberkitError) -> None:
    """One line for the error, plus a hint: both printed as text, never as markup."""
    stderr.print(Text.assemble(("Error:", "bold red"), " ", printable(redact(exc.message))))
    hint = hint_for(exc)
    if hint:
        stderr.print(f"Hint: {redact(hint)}")


class MemberkitGroup(TyperGroup):
    """Renders domain errors as one actionable line and the right exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MemberkitError as exc:
            report_error(exc)
            raise typer.Exit(exit_code_for(exc)) from None


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
app.add_typer(db_cli.app, name="db")
app.add_typer(points_cli.app, name="points")
app.add_typer(tiers_cli.app, name="tiers")
app.add_typer(members_cli.app, name="members")
app.add_typer(customers_cli.app, name="customers")
app.add_typer(events_cli.app, name="events")
app.add_typer(imports_cli.app, name="import")


def main() -> None:
    """Console-script entry point."""
    app()
