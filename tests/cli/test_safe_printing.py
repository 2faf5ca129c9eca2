"""What users and files supplied is printed as text: no Rich markup, no terminal control."""

from __future__ import annotations

import io
import json
from pathlib import Path

from typer.testing import CliRunner

from memberkit.cli.main import app
from memberkit.cli.output import SafeConsole, markup_safe, printable
from memberkit.domain.members import MemberRecord
from memberkit.services.ledger.members import upsert_members_from_export
from memberkit.store.database import open_database

runner = CliRunner()
HYPERLINK = '=HYPERLINK("http://evil.example","click")'
# An OSC 8 terminal hyperlink and a colour change, as a hostile export could carry them.
OSC8_NAME = "\x1b]8;;http://evil.example\x1b\\Bob\x1b]8;;\x1b\\\x1b[31m"


def test_control_characters_are_shown_as_escapes() -> None:
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("line\r\nBcc: y") == "line\\x0d\\x0aBcc: y"
    assert printable("x\u202ey\u200bz\x9b\x7f") == "x\\u202ey\\u200bz\\x9b\\x7f"
    assert printable("Zoë Ünal 日本 [shopify] a\u00a0b") == "Zoë Ünal 日本 [shopify] a\u00a0b"


def test_markup_safe_escapes_rich_tags() -> None:
    assert markup_safe("[bold]x") == "\\[bold]x"


def test_the_console_prints_brackets_and_no_escape_sequences() -> None:
    buffer = io.StringIO()
    console = SafeConsole()
    console.file = buffer
    console.print("unknown section [shopify] \x1b[31mred\x1b[0m\nnext line")
    assert buffer.getvalue() == "unknown section [shopify] \\x1b[31mred\\x1b[0m\nnext line\n"


def test_a_config_error_keeps_the_bracketed_section_name(tmp_path: Path) -> None:
    config = tmp_path / "memberkit.toml"
    config.write_text('[shopfy]\nshop = "x"\n', encoding="utf-8")
    result = runner.invoke(app, ["tiers", "list", "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown section [shopfy]" in result.output


def _member_with_hostile_fields(tmp_path: Path) -> Path:
    config = tmp_path / "memberkit.toml"
    config.write_text('[database]\nurl = "sqlite:///members.db"\n', encoding="utf-8")
    db = open_database(f"sqlite:///{tmp_path / 'members.db'}")
    upsert_members_from_export(
        db,
        actor="test:suite",
        records=[
            MemberRecord(
                shopify_id="6601000000007",
                email=f"{HYPERLINK}@example.com",
                first_name=OSC8_NAME,
                codes_available='[{"code": "[red]X\\u001b[2J", "value": "5.00"}]',
            )
        ],
    )
    db.dispose()
    return config


def test_members_show_prints_hostile_values_harmlessly(tmp_path: Path) -> None:
    config = _member_with_hostile_fields(tmp_path)
    result = runner.invoke(app, ["members", "show", "6601000000007", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert f"<{HYPERLINK}@example.com>" in result.output
    assert "\\x1b]8;;http://evil.example" in result.output
    assert "[red]X\\x1b[2J" in result.output


def test_json_output_escapes_control_characters_and_decodes_to_the_value(tmp_path: Path) -> None:
    config = _member_with_hostile_fields(tmp_path)
    result = runner.invoke(
        app, ["members", "show", "6601000000007", "--json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert json.loads(result.output)["first_name"] == OSC8_NAME


def test_an_error_message_with_a_control_character_is_escaped(tmp_path: Path) -> None:
    config = _member_with_hostile_fields(tmp_path)
    result = runner.invoke(
        app, ["points", "add", "jo\x1b[2J@example.com", "5", "--config", str(config)]
    )
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "jo\\x1b[2J@example.com" in result.output
