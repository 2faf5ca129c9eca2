"""``memberkit customers import FILE`` with the rewards update's readers, on both databases."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from memberkit.config import load_settings
from memberkit.services.ledger.customers_import import import_customers
from memberkit.services.ledger.members import show_member
from memberkit.store.database import Database

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "input" / "customers_export.csv"
HEADER = (
    "ID,Email,State,Created At,Metafield: alpkit.discountcodes_2021 [json],"
    "Metafield: alpkit.usedcodes_2021 [json]\n"
)


def write_export(path: Path, *rows: str) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def test_import_creates_then_updates_members_with_their_wallets(
    db: Database, tmp_path: Path, workdir: Path
) -> None:
    settings = load_settings(None, environ={})
    first = write_export(
        tmp_path / "a.csv",
        "'101,Ann@Example.com,enabled,2021-03-04 10:11:12 +0000,"
        '"[{""code"":""A-1"",""value"":""10.00""}]",',
        "102,bo@example.com,disabled,,,",
    )
    result = import_customers(db, actor="test:suite", path=first, settings=settings)
    assert (result.rows_read, result.created, result.rejected) == (2, 2, [])
    ann = show_member(db, member="ann@example.com")
    assert ann.shopify_id == "101" and ann.account_state == "enabled"
    assert str(ann.member_since) == "2021-03-04"
    assert ann.wallet["available"] == [{"code": "A-1", "value": "10.00"}]
    second = write_export(
        tmp_path / "b.csv",
        '101,ann@example.com,enabled,2021-03-04,[],"[{""code"":""A-1"",""value"":""10.00""}]"',
        "102,bo@example.com,disabled,,,",
        "abc,x@example.com,enabled,,,",
        '103,cy@example.com,enabled,,"[{""code"":",',
    )
    result = import_customers(db, actor="test:suite", path=second, settings=settings)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert [row for row, _ in result.rejected] == [4, 5]
    assert "not a Shopify customer id" in result.rejected[0][1]
    assert "malformed JSON" in result.rejected[1][1]
    assert result.rejects_file is not None and result.rejects_file.parent == workdir / "output"
    with result.rejects_file.open(encoding="utf-8", newline="") as fh:
        rejected_rows = list(csv.reader(fh))
    assert rejected_rows[0][-1] == "Failure Reason"
    assert [row[:2] for row in rejected_rows[1:]] == [
        ["abc", "x@example.com"],
        ["103", "cy@example.com"],
    ]
    assert "malformed JSON" in rejected_rows[2][-1]
    assert show_member(db, member="101").wallet["used"] == [{"code": "A-1", "value": "10.00"}]


def test_cli_imports_the_example_export(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "memberkit.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    command = [sys.executable, "-m", "memberkit", "customers", "import", str(EXAMPLE)]
    result = subprocess.run(
        [*command, "--config", str(config), "--json"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["created"] == 10 and summary["skipped_repeated_id"] == 2
    assert {r["row"] for r in summary["rejected"]} == {9, 11}
    assert "Warning: row 9:" in result.stderr and "Traceback" not in result.stderr
    (rejects,) = (tmp_path / "output").glob("rejects_customers_import_*.csv")
    assert summary["rejects_file"] == str(rejects)
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 3  # header + rows 9 and 11
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "memberkit",
            "customers",
            "import",
            str(tmp_path / "nope.csv"),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1 and "file not found" in missing.stderr
