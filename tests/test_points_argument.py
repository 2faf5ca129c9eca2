"""The points argument: plain ASCII digits only, our message for everything else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from memberkit.cli.main import app
from memberkit.domain.ledger import POINTS_LIMIT, parse_points
from memberkit.errors import InvalidValueError
from memberkit.services.ledger.members import create_member
from memberkit.store.database import open_database

runner = CliRunner()


@pytest.mark.parametrize("text", ["1,000", "1_000", "\u0663", "\uff11\uff12", "+5", "1 000", "5."])
def test_anything_but_ascii_digits_is_refused_with_a_message_to_write_digits(text: str) -> None:
    with pytest.raises(InvalidValueError, match="digits 0-9") as caught:
        parse_points(text)
    assert caught.value.hint is not None and "digits only" in caught.value.hint


def test_plain_digits_are_points() -> None:
    assert parse_points("250") == 250
    assert parse_points(" 0250 ") == 250
    assert parse_points("-5", allow_negative=True) == -5


def test_a_value_past_the_points_limit_is_too_large() -> None:
    assert parse_points(str(POINTS_LIMIT)) == POINTS_LIMIT
    with pytest.raises(InvalidValueError, match="too large"):
        parse_points(str(POINTS_LIMIT + 1))
    with pytest.raises(InvalidValueError, match="too large"):
        parse_points("-" + str(POINTS_LIMIT + 1), allow_negative=True)


def test_a_5000_digit_value_is_too_large_and_its_echo_is_cut() -> None:
    with pytest.raises(InvalidValueError, match="too large") as caught:
        parse_points("9" * 5000)
    assert len(caught.value.message) < 200


@given(st.text(max_size=30))
def test_any_text_is_points_or_our_error(text: str) -> None:
    try:
        value = parse_points(text, allow_zero=True, allow_negative=True)
    except InvalidValueError:
        return
    assert re.fullmatch(r"-?[0-9]+", text.strip())
    assert value == int(text.strip()) and abs(value) <= POINTS_LIMIT


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "memberkit.toml"
    path.write_text('[database]\nurl = "sqlite:///members.db"\n', encoding="utf-8")
    db = open_database(f"sqlite:///{tmp_path / 'members.db'}")
    create_member(db, email="ann@example.com", actor="test:suite")
    db.dispose()
    return path


def test_minus_five_gets_our_message_not_click_s(config: Path) -> None:
    result = runner.invoke(app, ["points", "add", "ann@example.com", "-5", "-c", str(config)])
    assert result.exit_code == 2
    assert "points must not be negative, got '-5'" in result.output
    assert "No such option" not in result.output


def test_points_set_takes_a_negative_target_when_allowed(config: Path) -> None:
    args = ["points", "set", "ann@example.com", "-5", "--allow-negative", "-c", str(config)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "balance -5" in result.output


def test_a_note_that_looks_negative_is_kept_as_written(config: Path) -> None:
    args = ["points", "add", "ann@example.com", "5", "--note", "-1 for the typo", "--json"]
    result = runner.invoke(app, [*args, "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert '"public_note": "-1 for the typo"' in result.output


@pytest.mark.parametrize("text", ["1,000", "\uff11\uff12", "+5"])
def test_the_cli_refuses_other_digits(config: Path, text: str) -> None:
    result = runner.invoke(app, ["points", "add", "ann@example.com", text, "-c", str(config)])
    assert result.exit_code == 2
    assert "digits 0-9" in result.output
