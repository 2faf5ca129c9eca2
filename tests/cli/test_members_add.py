"""``memberkit members add``: a member who is not in an export yet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memberkit.cli.main import app

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "memberkit.toml"
    path.write_text('[database]\nurl = "sqlite:///members.db"\n', encoding="utf-8")
    return path


def test_an_added_member_can_be_shown_and_given_points(config: Path) -> None:
    args = ["members", "add", "Jo@Example.com", "--shopify-id", "7012345678901"]
    added = runner.invoke(
        app, [*args, "--first-name", "Jo", "--last-name", "Brown", "-c", str(config)]
    )
    assert added.exit_code == 0, added.output
    assert "added member 1: Jo Brown <Jo@Example.com>" in added.output
    shown = runner.invoke(app, ["members", "show", "7012345678901", "--json", "-c", str(config)])
    view = json.loads(shown.output)
    assert (view["email"], view["first_name"], view["last_name"]) == (
        "Jo@Example.com",
        "Jo",
        "Brown",
    )
    points = runner.invoke(app, ["points", "add", "jo@example.com", "5", "-c", str(config)])
    assert points.exit_code == 0 and "balance 5" in points.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-email"], "EMAIL must be an email address"),
        (["a b@example.com"], "EMAIL must be an email address"),
        (["jo@example.com", "--shopify-id", "12a"], "--shopify-id must be digits"),
    ],
)
def test_a_malformed_member_is_refused_with_exit_2(
    config: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["members", "add", *args, "-c", str(config)])
    assert result.exit_code == 2
    assert message in result.output


def test_a_member_who_exists_is_not_added_twice(config: Path) -> None:
    first = ["members", "add", "jo@example.com", "--shopify-id", "7001", "-c", str(config)]
    assert runner.invoke(app, first).exit_code == 0
    same_email = runner.invoke(app, ["members", "add", "JO@example.com", "-c", str(config)])
    assert same_email.exit_code == 2 and "already exists" in same_email.output
    same_id = runner.invoke(
        app, ["members", "add", "x@example.com", "--shopify-id", "7001", "-c", str(config)]
    )
    assert same_id.exit_code == 2 and "Shopify customer id 7001 already exists" in same_id.output
