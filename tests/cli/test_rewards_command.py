"""End to end: ``memberkit rewards update`` as a subprocess on the example exports.

Every cell of every output is checked; the XLSX is read back with openpyxl.
The fixture exports are the ones ``scripts/demo`` uses (examples/input/): a
Matrixify export (UTF-8 BOM, CRLF, address rows, a multi-line note, a
``[json]`` header, rejects) and a Shopify orders export (line items,
comma-separated codes, ``-0500`` offsets, an unreadable date).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from memberkit.config import load_settings
from memberkit.services.rewards.lock import rewards_lock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DATE = "2026-11-20"
AVAILABLE = "Metafield: alpkit.discountcodes_2021"


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "KLAVIYO_"))}
    return subprocess.run(
        [sys.executable, "-m", "memberkit", "rewards", "update", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "input", tmp_path / "input")
    shutil.copy(EXAMPLES / "memberkit.toml", tmp_path / "memberkit.toml")
    return tmp_path


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_the_update_writes_exactly_the_expected_files_cell_by_cell(store: Path) -> None:
    inputs_before = {p.name: p.read_bytes() for p in (store / "input").iterdir()}
    result = run(store / "memberkit.toml", "--today", DATE)
    assert result.returncode == 0, result.stderr
    # Without a terminal, stderr carries only warnings and errors.
    assert result.stderr.splitlines() == [
        f"WARNING: 4 customer row(s) rejected and left unchanged; listed in "
        f"{store / 'output' / 'rejects_2026-11-20.csv'}",
        f"WARNING: 1 usage row(s) rejected; listed in "
        f"{store / 'output' / 'rejects_usage_2026-11-20.csv'}",
    ]
    assert "14 customer rows read, 8 processed, 2 repeated-ID rows skipped, 4 rejected" in (
        result.stdout
    )
    output = store / "output"
    assert sorted(p.name for p in output.iterdir()) == [
        "code_reuse_2026-11-20.csv",
        "customers_2026-11-20.xlsx",
        "for_reviews_2026-11-20.csv",
        "max_value_2026-11-20.csv",
        "rejects_2026-11-20.csv",
        "rejects_usage_2026-11-20.csv",
    ]
    # Import files are never altered.
    assert {p.name: p.read_bytes() for p in (store / "input").iterdir()} == inputs_before

    workbook = openpyxl.load_workbook(output / "customers_2026-11-20.xlsx")
    assert workbook.sheetnames == ["Customers"]
    sheet = workbook["Customers"]
    assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row if cell.value)
    assert [tuple(r) for r in sheet.iter_rows(values_only=True)] == [
        (
            "ID",
            "email",
            "Command",
            # The type the export's header carried (issue 8.11b).
            "Metafield: alpkit.discountcodes_2021 [json]",
            "Metafield: alpkit.usedcodes_2021 [json]",
            "Metafield: alpkit.expiredcodes_2021 [json]",
        ),
        (
            "6601000000001",
            "ann.jones@example.com",
            "UPDATE",
            '[{"code":"DIV-AB12-CD34","value":"25.00","min_spend":"100.00","expires":"2026-12-31"},'
            '{"code":"DIV-7KQ2-91XZ","value":"10.00","min_spend":"50.00","expires":"2027-03-31"}]',
            "[]",
            "[]",
        ),
        (
            "6601000000002",
            "Bob.Smith@Example.com",
            "UPDATE",
            '[{"code":"DIV-BOB1-0002","value":"5.00","min_spend":"25.00"}]',
            '[{"code":"DIV-OLD1-0001","value":"10.00","min_spend":"50.00","expires":"2026-06-30",'
            '"used_at":"2026-05-02","order":"#0907"},{"code":"DIV-BOB1-0001","value":"15.00",'
            '"min_spend":"75.00","expires":"2027-06-30","used_at":"2026-11-18","order":"#1002"}]',
            "[]",
        ),
        (
            "6601000000003",
            "chloé.dubois@example.fr",
            "UPDATE",
            '[{"code":"DIV-CHL0-0001","value":"20.00","min_spend":"80.00","expires":"2026-11-20"}]',
            "[]",
            '[{"code":"DIV-CHL0-0000","value":"5.00","min_spend":"20.00","expires":"2026-01-31",'
            '"expired_at":"2026-02-01"},{"code":"DIV-CHL0-0002","value":10.0,"min_spend":40,'
            '"expires":"2026-11-01","expired_at":"2026-11-20"}]',
        ),
        (
            "6601000000005",
            None,
            "UPDATE",
            "[]",
            "[]",
            '[{"code":"DIV-EVE0-0001","value":"30.00","min_spend":"150.00","expires":"2026-10-31",'
            '"expired_at":"2026-11-20"}]',
        ),
        (
            "6601000000011",
            "kim@example.com",
            "UPDATE",
            '[{"code":"DIV-KIM0-0002","value":"12.50","min_spend":"50.00","expires":"2027-05-31"}]',
            # 19:45 at -05:00 on the 16th is the 17th in London; the earlier of two orders wins.
            '[{"code":"DIV-KIM0-0001","value":"12.50","min_spend":"50.00","expires":"2027-02-28",'
            '"used_at":"2026-11-17","order":"#1003"}]',
            "[]",
        ),
        (
            "6601000000012",
            "lee@example.com",
            "UPDATE",
            '[{"code":"DIV-LEE0-0002","value":"8.00","min_spend":"20.00","expires":"2026-11-21"}]',
            "[]",
            '[{"expires":"2026-11-19","min_spend":"20.00","value":"8.00","code":"DIV-LEE0-0001",'
            '"expired_at":"2026-11-20"}]',
        ),
    ]

    assert csv_rows(output / "max_value_2026-11-20.csv") == [
        [
            "Email",
            "has_dividends",
            "discount_code",
            "discount_value",
            "min_spend",
            "multiple_codes",
            "number_of_codes",
            "balance",
            "account_state",
            "MBR_date_created",
        ],
        ["ann.jones@example.com", "true", "DIV-AB12-CD34", "25.00", "100.00", "true", "2",
         "35.00", "enabled", "2021-03-04"],
        ["Bob.Smith@Example.com", "true", "DIV-BOB1-0002", "5.00", "25.00", "false", "1",
         "5.00", "enabled", "2022-07-19"],
        ["chloé.dubois@example.fr", "true", "DIV-CHL0-0001", "20.00", "80.00", "false", "1",
         "20.00", "enabled", "2023-01-15"],
        ["dan.o'brien@example.ie", "false", "", "0.00", "0.00", "false", "0", "0.00", "invited",
         "2024-02-29"],
        ["jack@example.com", "true", "DIV-JCK0-0002", "15.00", "60.00", "true", "3", "37.50",
         "enabled", "2019-11-11"],
        ["kim@example.com", "true", "DIV-KIM0-0002", "12.50", "50.00", "false", "1", "12.50",
         "enabled", "2022-02-22"],
        ["lee@example.com", "true", "DIV-LEE0-0002", "8.00", "20.00", "false", "1", "8.00",
         "enabled", "2023-08-08"],
    ]  # fmt: skip

    assert csv_rows(output / "for_reviews_2026-11-20.csv") == [
        ["Email", AVAILABLE],
        [
            "ann.jones@example.com",
            '[{"code":"DIV-AB12-CD34","value":"25.00","min_spend":"100.00","expires":"2026-12-31"},'
            '{"code":"DIV-7KQ2-91XZ","value":"10.00","min_spend":"50.00","expires":"2027-03-31"}]',
        ],
        ["Bob.Smith@Example.com", '[{"code":"DIV-BOB1-0002","value":"5.00","min_spend":"25.00"}]'],
        [
            "chloé.dubois@example.fr",
            '[{"code":"DIV-CHL0-0001","value":"20.00","min_spend":"80.00","expires":"2026-11-20"}]',
        ],
        [
            "jack@example.com",
            '[{"code":"DIV-JCK0-0002","value":"15.00","min_spend":"60.00","expires":null},'
            '{"code":"DIV-JCK0-0001","value":15,"min_spend":0,"expires":"2027-01-31T23:30:00Z"},'
            '{"code":"DIV-JCK0-0003","value":"7.50","min_spend":"30.00"}]',
        ],
        [
            "kim@example.com",
            '[{"code":"DIV-KIM0-0002","value":"12.50","min_spend":"50.00","expires":"2027-05-31"}]',
        ],
        [
            "lee@example.com",
            '[{"code":"DIV-LEE0-0002","value":"8.00","min_spend":"20.00","expires":"2026-11-21"}]',
        ],
    ]

    rejects = csv_rows(output / "rejects_2026-11-20.csv")
    with (store / "input" / "customers_export.csv").open(encoding="utf-8-sig", newline="") as fh:
        source = {row[0]: row for row in csv.reader(fh) if row}
    assert rejects[0] == [*source["ID"], "Failure Reason"]
    assert [row[:-1] for row in rejects[1:]] == [
        source["6601000000006"],
        # The formula-like email is neutralised: rejects are for people.
        [
            source["6601000000007"][0],
            "'" + source["6601000000007"][1],
            *source["6601000000007"][2:],
        ],
        source["6601000000008"],
        source["6601000000009"],
    ]
    assert [row[-1] for row in rejects[1:]] == [
        "Metafield: alpkit.discountcodes_2021 [json]: malformed JSON "
        "(Expecting ',' delimiter at character 84)",
        "Email: '=HYPERLINK(\"http://evil.example\",\"click\")' starts with '=', which a "
        "spreadsheet would run as a formula; correct the email in Shopify",
        "Email: ANN.JONES@example.com is also the email of customer ID 6601000000001 "
        "(an earlier row, kept); one email cannot belong to two customers",
        'Metafield: alpkit.discountcodes_2021 [json]: code 1 (DIV-IVY0-0001): value "-5.00" '
        "is negative",
    ]
    assert csv_rows(output / "rejects_usage_2026-11-20.csv")[1][-1] == (
        "Created at: '18/11/2026 09:14' is not a date and time "
        "(expected e.g. 2026-11-18 09:14:02 -0500)"
    )

    log = (store / "logs" / "process.log").read_text(encoding="utf-8")
    [summary] = [line for line in log.splitlines() if "rewards update summary" in line]
    for pair in [
        "customers_read=14",
        "processed=8",
        "skipped_repeated_id=2",
        "rejected=4",
        "changed=6",
        "codes_moved_to_used=2",
        "codes_moved_to_expired=3",
        "unmatched_already_used=1",
        "unmatched_not_member_code=2",
        "max_value_rows_written=7",
        "reviews_rows_written=6",
        "customers_rows_written=6",
        "profiles_from=off",
    ]:
        assert pair in summary.split(), pair


def test_a_rerun_on_the_same_date_archives_the_earlier_files(store: Path) -> None:
    assert run(store / "memberkit.toml", "--today", DATE).returncode == 0
    assert run(store / "memberkit.toml", "--today", DATE).returncode == 0
    archived = sorted(p.name for p in (store / "output" / "archive").iterdir())
    assert archived == [
        "code_reuse_2026-11-20.csv",
        "customers_2026-11-20.xlsx",
        "for_reviews_2026-11-20.csv",
        "max_value_2026-11-20.csv",
        "rejects_2026-11-20.csv",
        "rejects_usage_2026-11-20.csv",
    ]


def test_a_malformed_date_is_a_usage_error(store: Path) -> None:
    result = run(store / "memberkit.toml", "--today", "20/11/2026")
    assert result.returncode == 2
    assert "--today: expected a date as YYYY-MM-DD, got '20/11/2026'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_is_a_configuration_error(store: Path) -> None:
    config = store / "memberkit.toml"
    config.write_text(config.read_text().replace('timezone = "Europe/London"', 'timezone = "Mars"'))
    result = run(config, "--today", DATE)
    assert result.returncode == 2
    assert "processing.timezone unknown time zone 'Mars'" in result.stderr


def test_a_missing_export_names_the_setting_and_the_path(store: Path) -> None:
    (store / "input" / "discounts_export.csv").unlink()
    result = run(store / "memberkit.toml", "--today", DATE)
    assert result.returncode == 1
    assert "input.discounts_csv" in result.stderr and "discounts_export.csv: file not found" in (
        result.stderr
    )
    assert not (store / "output").exists() or not any((store / "output").iterdir())


def test_a_missing_column_lists_the_columns_found(store: Path) -> None:
    (store / "input" / "customers_export.csv").write_text("Id;Name\n1;Ann\n", encoding="utf-8")
    result = run(store / "memberkit.toml", "--today", DATE)
    assert result.returncode == 1
    assert "missing column(s) Email, Metafield: alpkit.discountcodes_2021" in result.stderr
    assert "columns found: 'Id', 'Name'" in result.stderr


def test_a_second_run_is_refused_while_the_lock_is_held(store: Path) -> None:
    with rewards_lock(load_settings(store / "memberkit.toml")):
        result = run(store / "memberkit.toml", "--today", DATE)
    assert result.returncode == 1
    assert "the rewards update is already running" in result.stderr


def test_an_update_that_cannot_be_written_exits_3(store: Path) -> None:
    path = store / "input" / "customers_export.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    [bob] = [row for row in rows if row and row[0] == "'6601000000002"]
    used = json.loads(bob[16])
    # Bob's used list ends just under Excel's cell limit; moving DIV-BOB1-0001 into it
    # would push it over, so his update cannot be written: he is left unchanged.
    used.append({"code": "OLD-PAD", "value": "1.00", "note": ""})
    used[-1]["note"] = "x" * (32_700 - len(json.dumps(used, separators=(",", ":"))))
    bob[16] = json.dumps(used, separators=(",", ":"))
    assert len(bob[16]) == 32_700
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, lineterminator="\r\n").writerows(rows)
    result = run(store / "memberkit.toml", "--today", DATE)
    assert result.returncode == 3, result.stderr
    assert "1 customer update(s) could not be written" in result.stderr
    rejects = csv_rows(store / "output" / "rejects_2026-11-20.csv")
    assert rejects[1][-1].startswith(
        "Metafield: alpkit.usedcodes_2021 [json]: after the update it would hold 32,"
    )


def last_log_line(store: Path) -> str:
    return (store / "logs" / "process.log").read_text(encoding="utf-8").splitlines()[-1]


def test_a_dry_run_writes_only_to_output_dry_run_and_changes_nothing_else(store: Path) -> None:
    assert run(store / "memberkit.toml", "--today", DATE).returncode == 0
    output = store / "output"
    before = {p.name: p.read_bytes() for p in output.iterdir() if p.is_file()}
    database = store / "memberkit.db"
    with sqlite3.connect(database) as conn:
        members_before = conn.execute("SELECT * FROM members ORDER BY id").fetchall()
        runs_before = conn.execute("SELECT count(*) FROM rewards_runs").fetchone()

    result = run(store / "memberkit.toml", "--today", DATE, "--dry-run")
    assert result.returncode == 0, result.stderr
    # The earlier outputs are neither archived nor replaced; nothing is mirrored.
    assert {p.name: p.read_bytes() for p in output.iterdir() if p.is_file()} == before
    assert not (output / "archive").exists()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT * FROM members ORDER BY id").fetchall() == members_before
        assert conn.execute("SELECT count(*) FROM rewards_runs").fetchone() == runs_before
    dry = output / "dry-run"
    assert sorted(p.name for p in dry.iterdir()) == sorted(before)
    assert (dry / "max_value_2026-11-20.csv").read_bytes() == before["max_value_2026-11-20.csv"]
    assert f"Dry run: outputs written to {dry} only; nothing archived, copied, uploaded" in (
        result.stdout
    )
    assert "Database:" not in result.stdout
    summary = last_log_line(store)
    assert "rewards update summary: status=ok" in summary and "dry_run=true" in summary.split()

    # A second dry run replaces its own files; still nothing archived.
    assert run(store / "memberkit.toml", "--today", DATE, "--dry-run").returncode == 0
    assert not (output / "archive").exists()


def test_a_run_that_fails_on_a_missing_file_ends_the_log_with_its_summary(store: Path) -> None:
    (store / "input" / "discounts_export.csv").unlink()
    result = run(store / "memberkit.toml", "--today", DATE)
    assert result.returncode == 1
    summary = last_log_line(store)
    assert "ERROR" in summary
    assert "rewards update summary: status=failed run_date=2026-11-20 dry_run=false error=" in (
        summary
    )
    assert "discounts_export.csv: file not found" in summary


def test_a_run_refused_by_the_lock_ends_the_log_with_its_summary(store: Path) -> None:
    with rewards_lock(load_settings(store / "memberkit.toml")):
        result = run(store / "memberkit.toml", "--today", DATE)
    assert result.returncode == 1
    summary = last_log_line(store)
    assert "rewards update summary: status=failed" in summary
    assert "the rewards update is already running: the lock is held by pid" in summary


def test_a_killed_run_s_leftover_temporaries_are_removed_by_the_next(store: Path) -> None:
    output = store / "output"
    output.mkdir()
    leftovers = [
        output / ".customers_2026-11-19.xlsx.k3j2h1.tmp",
        output / ".max_value_2026-11-19.csv.a8d7f6.tmp",
        output / ".rewards-spool-x1y2.tmp",
        output / ".rewards-mirror-x1y2.tmp",
    ]
    unrelated = output / ".notes.txt.tmp"
    for path in [*leftovers, unrelated]:
        path.write_bytes(b"partial")
    result = run(store / "memberkit.toml", "--today", DATE)
    assert result.returncode == 0, result.stderr
    assert [p for p in leftovers if p.exists()] == []
    assert unrelated.exists()  # not ours: left alone
    log = (store / "logs" / "process.log").read_text(encoding="utf-8")
    assert f"removed {leftovers[0]}, left by an earlier run that was stopped" in log


def test_member_codes_used_twice_are_listed_for_staff(store: Path) -> None:
    result = run(store / "memberkit.toml", "--today", DATE)
    assert result.returncode == 0, result.stderr
    path = store / "output" / "code_reuse_2026-11-20.csv"
    assert f"  {path}  (2 member codes used twice)" in result.stdout
    assert csv_rows(path) == [
        ["Code", "Email", "Shopify ID", "Orders", "Order Dates", "Reason"],
        [
            "DIV-KIM0-0001",
            "kim@example.com",
            "6601000000011",
            "#1003; #1005",
            "2026-11-17; 2026-11-19",
            "used in 2 orders",
        ],
        [
            "DIV-OLD1-0001",
            "Bob.Smith@Example.com",
            "6601000000002",
            "#1004",
            "2026-11-17",
            "already used in #0907 on 2026-05-02, used again in 1 order",
        ],
    ]
    summary = last_log_line(store)
    assert "code_reuse=2" in summary.split()


def test_another_store_names_its_metafields_and_klaviyo_properties(
    store: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 8.11: the same exports under another store's names give the same files,
    with that store's metafield columns and Klaviyo property names (one left out)."""
    seed = tmp_path_factory.mktemp("seed")
    shutil.copytree(store / "input", seed / "input")
    shutil.copy(store / "memberkit.toml", seed / "memberkit.toml")
    assert run(seed / "memberkit.toml", "--today", DATE).returncode == 0

    export = store / "input" / "customers_export.csv"
    text = export.read_text(encoding="utf-8-sig")
    header, rest = text.split("\n", 1)
    renamed = {
        "alpkit.discountcodes_2021": "acme.rewards_open",
        "alpkit.usedcodes_2021": "acme.rewards_used",
        "alpkit.expiredcodes_2021": "acme.rewards_gone",
    }
    for old, new in renamed.items():
        header = header.replace(old, new)
    export.write_text("\ufeff" + header + "\n" + rest, encoding="utf-8")
    config = store / "memberkit.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        .replace('namespace = "alpkit"', 'namespace = "acme"')
        .replace('available_key = "discountcodes_2021"', 'available_key = "rewards_open"')
        .replace('used_key = "usedcodes_2021"', 'used_key = "rewards_used"')
        .replace('expired_key = "expiredcodes_2021"', 'expired_key = "rewards_gone"')
        + '\n[klaviyo_properties]\nhas_dividends = "has_rewards"\n'
        'member_since = "member_since"\naccount_state = ""\n',
        encoding="utf-8",
    )
    result = run(config, "--today", DATE)
    assert result.returncode == 0, result.stderr

    def sheet_rows(folder: Path) -> list[tuple[object, ...]]:
        book = openpyxl.load_workbook(folder / "output" / f"customers_{DATE}.xlsx")
        return [tuple(r) for r in book["Customers"].iter_rows(values_only=True)]

    seed_sheet, sheet = sheet_rows(seed), sheet_rows(store)
    assert sheet[0] == (
        "ID", "email", "Command",
        "Metafield: acme.rewards_open [json]",
        "Metafield: acme.rewards_used [json]",
        "Metafield: acme.rewards_gone [json]",
    )  # fmt: skip
    assert sheet[1:] == seed_sheet[1:]

    seed_values = csv_rows(seed / "output" / f"max_value_{DATE}.csv")
    values = csv_rows(store / "output" / f"max_value_{DATE}.csv")
    assert values[0] == [
        "Email", "has_rewards", "discount_code", "discount_value", "min_spend",
        "multiple_codes", "number_of_codes", "balance", "member_since",
    ]  # fmt: skip
    # The same cells, without account_state (column 8 of the seed's file).
    assert values[1:] == [row[:8] + row[9:] for row in seed_values[1:]]
    reviews = csv_rows(store / "output" / f"for_reviews_{DATE}.csv")
    assert reviews[0] == ["Email", "Metafield: acme.rewards_open"]
    assert reviews[1:] == csv_rows(seed / "output" / f"for_reviews_{DATE}.csv")[1:]
