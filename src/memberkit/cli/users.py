"""``memberkit users ...``: the web admin's users (add, list, set-role, disable, token)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from memberkit.cli.common import ConfigOption, JsonOption, cli_actor, print_json, stdout
from memberkit.cli.db import open_store
from memberkit.cli.output import print_table, printable
from memberkit.errors import UsageError
from memberkit.services import users as user_service

app = typer.Typer(help="Users of the web admin (memberkit serve).", no_args_is_help=True)

EmailArg = Annotated[str, typer.Argument(help="The user's email (their sign-in name).")]
RoleOption = Annotated[
    str, typer.Option("--role", help="viewer (reads), operator (imports, points) or admin.")
]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise UsageError(
            "no terminal to ask for the password",
            hint="pipe it in with --password-stdin",
        )
    first: str = typer.prompt("Password", hide_input=True)
    second: str = typer.prompt("Repeat the password", hide_input=True)
    if first != second:
        raise UsageError("the two passwords differ; nothing was changed")
    return first


@app.command("add")
def add(
    email: EmailArg,
    role: RoleOption = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a user; asks for the password (or reads it with --password-stdin)."""
    user_service.check_role(role)
    password = _read_password(password_stdin)
    _, db = open_store(config)
    user = user_service.create_user(
        db, email=email, role=role, password=password, actor=cli_actor()
    )
    if as_json:
        print_json(user.to_json())
        return
    stdout.print(f"added {printable(user.email)} ({user.role})")


@app.command("list")
def list_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Every user with role, state and last sign-in."""
    _, db = open_store(config)
    users = user_service.list_users(db)
    if as_json:
        print_json([u.to_json() for u in users])
        return
    if not users:
        stdout.print("no users yet; add one with memberkit users add EMAIL --role admin")
        return
    table = Table("email", "role", "state", "last sign-in")
    for u in users:
        table.add_row(
            printable(u.email),
            u.role,
            "disabled" if u.disabled else "active",
            u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "never",
        )
    print_table(table)


@app.command("set-role")
def set_role(
    email: EmailArg,
    role: Annotated[str, typer.Argument(help="viewer, operator or admin.")],
    config: ConfigOption = None,
) -> None:
    """Change a user's role."""
    _, db = open_store(config)
    user = user_service.set_role(db, email=email, role=role, actor=cli_actor())
    stdout.print(f"{printable(user.email)} is now {user.role}")


@app.command("disable")
def disable(
    email: EmailArg,
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again.")] = False,
    config: ConfigOption = None,
) -> None:
    """Disable a user: their sessions and API tokens stop working at once."""
    _, db = open_store(config)
    user = user_service.set_disabled(db, email=email, disabled=not enable, actor=cli_actor())
    stdout.print(f"{printable(user.email)} is {'disabled' if user.disabled else 'enabled'}")


@app.command("token")
def token(
    email: EmailArg,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    config: ConfigOption = None,
) -> None:
    """Print a new personal API token (shown once; only its hash is stored)."""
    _, db = open_store(config)
    text, _view = user_service.issue_token(db, email=email, name=name, actor=cli_actor())
    # The token alone on stdout, so scripts can capture it.
    typer.echo(text)
