"""Errors speak codes, not CLI: every code has an exit code, and core hints name no flags."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import memberkit
from memberkit.cli.errors import EXIT_CODES, exit_code_for, hint_for
from memberkit.domain.ledger import InsufficientPointsError
from memberkit.errors import (
    ConfigError,
    InvalidValueError,
    MemberkitError,
    NotFoundError,
    UsageError,
)

SRC = Path(memberkit.__file__).parent


def _all_error_classes() -> list[type[MemberkitError]]:
    for module in pkgutil.walk_packages([str(SRC)], prefix="memberkit."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: list[type[MemberkitError]] = []
    todo: list[type[MemberkitError]] = [MemberkitError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_code_has_an_exit_code_in_the_cli_table() -> None:
    missing = {cls.__name__: cls.code for cls in _all_error_classes() if cls.code not in EXIT_CODES}
    assert missing == {}


def test_codes_are_stable_identifiers() -> None:
    for cls in _all_error_classes():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code), cls


def test_errors_carry_no_exit_code_of_their_own() -> None:
    assert not hasattr(ConfigError("x"), "exit_code")


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        (ConfigError("bad"), 2),
        (UsageError("bad"), 2),
        (InvalidValueError("bad"), 2),
        (NotFoundError("gone"), 1),
        (InsufficientPointsError(balance=1, requested=2), 1),
        (MemberkitError("broke"), 1),
    ],
)
def test_the_cli_maps_codes_to_exit_codes(error: MemberkitError, exit_code: int) -> None:
    assert exit_code_for(error) == exit_code


def test_structured_fields_are_kept_and_given_as_data() -> None:
    error = InvalidValueError(
        "a bad cell", file=Path("in.csv"), row=12, column="Email", member="a@x.test"
    )
    assert error.to_json() == {
        "code": "value_invalid",
        "message": "a bad cell",
        "hint": None,
        "member": "a@x.test",
        "file": "in.csv",
        "row": 12,
        "column": "Email",
    }


def test_the_cli_hint_names_the_flag_the_core_does_not() -> None:
    error = InsufficientPointsError(balance=1, requested=2)
    assert error.hint is not None and "--" not in error.hint
    assert "--allow-negative" in (hint_for(error) or "")


def test_a_member_not_found_hint_offers_members_add() -> None:
    error = NotFoundError("no member with email 'x@y.test'", member="x@y.test")
    assert "memberkit members add" in (hint_for(error) or "")


def _hint_texts(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "hint":
                    parts = [
                        n.value
                        for n in ast.walk(keyword.value)
                        if isinstance(n, ast.Constant) and isinstance(n.value, str)
                    ]
                    out.append((node.lineno, "".join(parts)))
    return out


def test_no_hint_outside_the_cli_names_a_command_line_flag() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if "cli" in path.relative_to(SRC).parts:
            continue
        for line, text in _hint_texts(ast.parse(path.read_text(encoding="utf-8"))):
            if re.search(r"(?<![\w-])--[a-z]", text):
                offenders.append(f"{path.relative_to(SRC)}:{line}: {text}")
    assert offenders == []


def test_no_usage_error_is_raised_outside_the_shells() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "cli" or rel.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and "UsageError(" in ast.unparse(node):
                offenders.append(str(rel))
    # Both are about a flag's text (--as-of, --dry-run), in modules the CLI does not own.
    assert offenders == ["domain/ledger.py", "services/rewards/run.py"]
