"""``memberkit import ...`` as a subprocess: exit codes 0 / 3 / 1 / 2, --json, templates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from tests.imports.conftest import add_members, write_csv

from memberkit.store.database import open_database


def memberkit(config: Path, *args: str, store: bool = True) -> subprocess.CompletedProcess[str]:
    flags = ["--config", str(config)] if store else []
    return subprocess.run(
        [sys.executable, "-m", "memberkit", "import", *args, *flags],
        capture_output=True,
        text=True,
        check=False,
        cwd=config.parent,
    )


def json_of(result: subprocess.CompletedProcess[str], code: int = 0) -> Any:
    assert result.returncode == code, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "store" / "memberkit.toml"
    path.parent.mkdir()
    path.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    db = open_database(database_url)
    add_members(db, 3)
    db.dispose()
    return path


def test_run_exit_codes_and_json(config: Path, tmp_path: Path) -> None:
    ok = write_csv(tmp_path / "ok.csv", "Email,Points\nm1@example.com,10\n")
    record = json_of(memberkit(config, "run", "points-add", str(ok), "--note", "hi", "--json"))
    assert record["status"] == "completed" and record["succeeded"] == 1
    assert record["options"]["note"] == "hi"
    assert record["actor"].startswith("cli:")
    # Under the store folder by default: imports/ beside the config file.
    assert Path(record["folder"]).parent == config.parent / "imports"

    partial = write_csv(tmp_path / "p.csv", "Email,Points\nm1@example.com,10\nzz@example.com,1\n")
    assert json_of(memberkit(config, "run", "points-add", str(partial), "--json"), 3)["failed"] == 1

    again = memberkit(config, "run", "points-add", str(ok))
    assert again.returncode == 1
    assert f"imported before as #{record['id']}" in again.stderr
    assert "--allow-duplicate" in again.stderr
    assert "Traceback" not in again.stderr

    bad = write_csv(tmp_path / "bad.csv", "Email,Points\nm1@example.com,5e3\n")
    invalid = memberkit(config, "run", "points-add", str(bad))
    assert invalid.returncode == 1
    assert "row 2: Points to add must be a positive integer" in invalid.stderr
    assert "error file:" in invalid.stderr

    usage = memberkit(config, "run", "points-multiply", str(ok))
    assert usage.returncode == 2 and "unknown import kind" in usage.stderr


def test_validate_only_then_apply_list_show(config: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "a.csv", "Email,Points\nm2@example.com,7\n")
    checked = json_of(
        memberkit(config, "run", "points-add", str(source), "--validate-only", "--json")
    )
    assert checked["status"] == "ready" and checked["applied_rows"] == 0
    applied = json_of(memberkit(config, "apply", str(checked["id"]), "--json"))
    assert applied["status"] == "completed"
    listed = json_of(memberkit(config, "list", "--json"))
    assert listed[0]["id"] == checked["id"]
    shown = memberkit(config, "show", str(checked["id"]))
    assert shown.returncode == 0 and "results file:" in shown.stdout
    undone = memberkit(config, "undo", str(checked["id"]))
    assert undone.returncode == 0 and "1 entries reversed" in undone.stdout
    assert "already undone" in memberkit(config, "undo", str(checked["id"])).stdout
    missing = memberkit(config, "show", "999")
    assert missing.returncode == 1 and "no import #999" in missing.stderr


def test_templates_in_csv_and_xlsx(tmp_path: Path) -> None:
    here = tmp_path / "memberkit.toml"  # only its folder: templates need no store
    for kind in ("points-add", "points-adjust", "tiers", "profiles"):
        result = memberkit(here, "template", kind, store=False)
        assert result.returncode == 0, result.stderr
    csv_bytes = (tmp_path / "points-add-template.csv").read_bytes()
    assert csv_bytes.startswith(b"Email,Points,Transaction Description\r\n")
    assert memberkit(here, "template", "tiers", "--xlsx", store=False).returncode == 0
    sheet = openpyxl.load_workbook(tmp_path / "tiers-template.xlsx").worksheets[0]
    assert [c.value for c in sheet[1]] == ["Customer ID", "Tier Name"]
    # Never overwritten: a second template gets a new name.
    memberkit(here, "template", "tiers", "--xlsx", store=False)
    assert (tmp_path / "tiers-template-2.xlsx").is_file()
