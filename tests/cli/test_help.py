"""Help shows only what works: every command's --help, walked."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import memberkit.cli
from memberkit.cli.main import app

runner = CliRunner()
CLI_SOURCES = Path(memberkit.cli.__file__).parent


def _commands() -> Iterator[tuple[list[str], Any]]:
    root = typer.main.get_command(app)

    def walk(path: list[str], command: Any) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk([*path, name], sub)

    yield from walk([], root)


COMMANDS = {" ".join(path) or "(root)": (path, command) for path, command in _commands()}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_no_value_placeholder_on_a_flag(name: str) -> None:
    path, _ = COMMANDS[name]
    result = runner.invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output


def _options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}


def test_points_deduct_offers_no_expiry() -> None:
    assert "--expires" not in _options(COMMANDS["points deduct"][1])
    result = runner.invoke(app, ["points", "deduct", "--help"], terminal_width=200)
    assert "--expires" not in result.output


def test_init_force_is_a_flag_before_the_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", "--force", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "store" / "memberkit.toml").is_file()


def _flags_named_in(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith("--"):
                continue  # an option's own declaration
            names.update(re.findall(r"(?<![\w-])--[a-z][a-z-]*", node.value))
    return names


def test_every_flag_a_message_or_hint_names_exists() -> None:
    all_options = set().union(*(_options(command) for _, command in COMMANDS.values()))
    for module in sorted(CLI_SOURCES.glob("*.py")):
        unknown = _flags_named_in(module) - all_options
        assert unknown == set(), module.name


def test_the_hint_for_each_ledger_code_names_only_flags_of_the_commands_that_raise_it() -> None:
    from memberkit.cli.errors import HINTS

    raisers = {
        "insufficient_points": ["points deduct", "points set"],
        "idempotency_conflict": ["points add", "points deduct", "points set", "points reverse"],
    }
    for code, names in raisers.items():
        flags = set(re.findall(r"--[a-z][a-z-]*", HINTS[code]))
        for name in names:
            assert flags <= _options(COMMANDS[name][1]), (code, name)
