"""``memberkit customers import FILE`` with the rewards update's readers, on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from memberkit.config import load_settings
from memberkit.errors import InputFileError
from memberkit.services.ledger.customers_import import (
    CustomersImportResult,
    import_customers,
    read_member_records,
)
from memberkit.services.ledger.members import show_member
from memberkit.services.rewards.update import run_rewards_update
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
    # The rewards update's row rules (issue 8): the same 4 rows as the update rejects.
    assert summary["created"] == 8 and summary["skipped_repeated_id"] == 2
    assert {r["row"] for r in summary["rejected"]} == {9, 10, 11, 12}
    assert "Warning: row 9:" in result.stderr and "Traceback" not in result.stderr
    (rejects,) = (tmp_path / "output").glob("rejects_customers_import_*.csv")
    assert summary["rejects_file"] == str(rejects)
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 5  # header + rows 9 to 12
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


# --- One reader, one set of row rules (issue 8.2), any customers export (issue 7.8) ---

CODES = "Metafield: alpkit.discountcodes_2021 [json]"


def _update_rejects(tmp_path: Path, export: Path) -> list[list[str]]:
    """The rows the rewards update rejects from ``export``, as its rejects file lists them."""
    root = tmp_path / "update"
    root.mkdir()
    orders = root / "orders.csv"
    orders.write_text("Name,Created at,Discount Code\n", encoding="utf-8")
    settings = load_settings(
        None,
        environ={},
        overrides={
            "input.customers_csv": str(export),
            "input.discounts_csv": str(orders),
            "output.directory": str(root / "output"),
            "output.archive_directory": str(root / "archive"),
            "log.directory": str(root / "logs"),
            # Never the default ./memberkit.db of whatever folder the suite runs in.
            "database.url": f"sqlite:///{root / 'memberkit.db'}",
        },
    )
    result = run_rewards_update(settings, today=dt.date(2026, 11, 20))
    if result.outputs.rejects_csv is None:
        return []
    with result.outputs.rejects_csv.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))[1:]


def _import_rejects(path: Path) -> list[tuple[int, str]]:
    result = CustomersImportResult()
    settings = load_settings(None, environ={})
    list(read_member_records(path, settings, result))
    return result.rejected


def test_import_and_update_reject_the_same_example_rows_for_the_same_reasons(
    db: Database, tmp_path: Path, workdir: Path
) -> None:
    updated = _update_rejects(tmp_path, EXAMPLE)
    assert len(updated) == 4
    result = import_customers(
        db, actor="test:suite", path=EXAMPLE, settings=load_settings(None, environ={})
    )
    assert [reason for _, reason in result.rejected] == [row[-1] for row in updated]
    assert result.rejects_file is not None
    with result.rejects_file.open(encoding="utf-8", newline="") as fh:
        imported = list(csv.reader(fh))[1:]
    assert imported == updated  # the same rows, as read, with the same Failure Reason


BAD_ROWS = [
    ('[{"code":"A","value":"10.00","expires":"next spring"}]', "ok1@example.com"),
    ('[{"code":"A","value":"-5.00"}]', "ok2@example.com"),
    ('[{"code":"A","value":"12.345"}]', "ok3@example.com"),
    ('[{"code":"A","value":"1.00"}]', '=HYPERLINK("http://x.test","3241")@example.com'),
    ('[{"code":"A","value":"1.00"}]', "not-an-email"),
    ('[{"code":"A","value":"1.00"}]', "a@b"),
    ('[{"code":"A","value":"1.00"}]', "zw\u200bsp@example.com"),
    ('[{"code":"A","value":"1.00"}]', "x@example.com\r\nBcc: y@example.com"),
    ('[{"code":"A","value":1e309}]', "ok4@example.com"),
    ('[{"code":"A","value":' + "9" * 5000 + "}]", "ok5@example.com"),
    ("[" * 50_000 + "]" * 50_000, "ok6@example.com"),
    ('[{"code":"A","value":"١٠"}]', "ok7@example.com"),
    ('[{"code":"A","value":"1e3"}]', "ok8@example.com"),
]


def test_generated_bad_rows_are_rejected_alike_by_import_and_update(tmp_path: Path) -> None:
    export = tmp_path / "bad.csv"
    with export.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ID", "Email", CODES])
        writer.writerow(["1", "good@example.com", '[{"code":"G","value":"1.00"}]'])
        for number, (cell, email) in enumerate(BAD_ROWS, start=2):
            writer.writerow([str(number), email, cell])
        writer.writerow(["1" * 30, "big-id@example.com", ""])
    updated = _update_rejects(tmp_path, export)
    imported = _import_rejects(export)
    assert len(imported) == len(BAD_ROWS) + 1
    assert [reason for _, reason in imported] == [row[-1] for row in updated]
    for _, reason in imported:
        assert "Traceback" not in reason and "Error" not in reason and len(reason) < 400


SHOPIFY_HEADER = (
    "ID,Email,First Name,Last Name,State,Created At,Birthday,Gender,Tags,"
    "Accepts Email Marketing,Total Spent,Orders Count\n"
)


def test_a_plain_shopify_export_imports_names_and_profile_fields_without_code_columns(
    db: Database, tmp_path: Path, workdir: Path
) -> None:
    export = tmp_path / "customers_export.csv"
    export.write_text(
        SHOPIFY_HEADER
        + "201,ann@example.com,Ann,Jones,enabled,2021-03-04 10:11:12 +0000,1990-05-01,female,"
        '"vip, newsletter",yes,123.40,3\n' + "202,bo@example.com,,,disabled,,,,,no,0.00,0\n",
        encoding="utf-8",
    )
    result = CustomersImportResult()
    records = list(read_member_records(export, load_settings(None, environ={}), result))
    assert result.rejected == []
    ann, bo = records
    assert (ann.first_name, ann.last_name) == ("Ann", "Jones")
    assert ann.birthday == dt.date(1990, 5, 1) and ann.gender == "female"
    assert ann.tags == "vip, newsletter" and ann.accepts_email_marketing is True
    assert ann.total_spent == Decimal("123.40") and ann.orders_count == 3
    assert str(ann.member_since) == "2021-03-04"
    # No code columns in the file: None, so a stored wallet is left as it is.
    assert (ann.codes_available, ann.codes_used, ann.codes_expired) == (None, None, None)
    assert (bo.first_name, bo.accepts_email_marketing, bo.total_spent) == (None, False, 0)

    imported = import_customers(
        db, actor="test:suite", path=export, settings=load_settings(None, environ={})
    )
    assert imported.created == 2
    shown = show_member(db, member="ann@example.com")
    assert (shown.first_name, shown.last_name) == ("Ann", "Jones")


def test_a_stored_wallet_is_untouched_by_an_export_without_code_columns(
    db: Database, tmp_path: Path, workdir: Path
) -> None:
    settings = load_settings(None, environ={})
    with_codes = write_export(
        tmp_path / "a.csv", '301,cy@example.com,enabled,,"[{""code"":""C-1"",""value"":""5.00""}]",'
    )
    import_customers(db, actor="test:suite", path=with_codes, settings=settings)
    plain = tmp_path / "plain.csv"
    plain.write_text(SHOPIFY_HEADER + "301,cy@example.com,Cy,Lee,enabled,,,,,,,\n", "utf-8")
    result = import_customers(db, actor="test:suite", path=plain, settings=settings)
    assert result.updated == 1
    shown = show_member(db, member="cy@example.com")
    assert shown.first_name == "Cy"
    assert shown.wallet["available"] == [{"code": "C-1", "value": "5.00"}]


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"Birthday": "someday"}, "Birthday: 'someday' is not a date"),
        ({"Accepts Email Marketing": "maybe"}, "is not yes, no, true or false"),
        ({"Total Spent": "1e3"}, "Total Spent: '1e3' is written with an exponent"),
        ({"Total Spent": "-5.00"}, 'Total Spent: "-5.00" is negative'),
        ({"Total Spent": "١٠"}, "is not an amount"),
        ({"Orders Count": "３"}, "Orders Count: '３' is not a number of orders"),
        ({"Orders Count": "9" * 5000}, "is not a number of orders"),
        ({"First Name": "A\x1b[31mnn"}, "First Name: 'A\\x1b[31mnn' contains a control"),
        ({"Last Name": "x" * 300}, "Last Name: 300 characters, more than 255"),
    ],
)
def test_a_bad_profile_cell_is_a_rejected_row_with_a_reason(
    tmp_path: Path, cells: dict[str, str], reason: str
) -> None:
    header = SHOPIFY_HEADER.strip().split(",")
    row = dict.fromkeys(header, "")
    row.update({"ID": "401", "Email": "dee@example.com", **cells})
    export = tmp_path / "profile.csv"
    with export.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, [row[name] for name in header]])
    [(number, found)] = _import_rejects(export)
    [column] = cells
    assert number == 2 and found.startswith(f"{column}: ") and reason in found
    assert len(found) < 200


def test_an_unreadable_created_at_is_counted_not_silently_blanked(tmp_path: Path) -> None:
    export = write_export(tmp_path / "dates.csv", "501,ed@example.com,enabled,next spring,,")
    result = CustomersImportResult()
    [record] = read_member_records(export, load_settings(None, environ={}), result)
    assert record.member_since is None and result.member_since_unreadable == 1
    assert result.rejected == []


def test_a_missing_column_names_the_file_argument_not_a_setting(tmp_path: Path) -> None:
    export = tmp_path / "no_email.csv"
    export.write_text("ID,Name\n1,Ann\n", encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        _import_rejects(export)
    assert str(info.value).startswith(f"customers import FILE {export}: missing column(s) Email")
    assert "input.customers_csv" not in str(info.value)
    assert "Metafield" not in str(info.value)


def test_a_repeated_column_refuses_the_file_naming_the_duplicates(tmp_path: Path) -> None:
    export = tmp_path / "twice.csv"
    export.write_text("ID,Email,Note,email\n1,a@example.com,,b@example.com\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"'Email' and 'email' \(columns 2, 4\)"):
        _import_rejects(export)
    ids = tmp_path / "ids.csv"
    ids.write_text("ID,ID,Email\n1,2,a@example.com\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"'ID' and 'ID' \(columns 1, 2\)"):
        _import_rejects(ids)
