"""Step 1: every row checked, nothing applied, and the error file when rows fail."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import func, select
from tests.imports.conftest import ACTOR, write_csv

from memberkit.config import Settings
from memberkit.services.imports import ImportOptions, create_import, run_import
from memberkit.store.database import Database
from memberkit.store.models import LedgerEntry


def _create(settings: Settings, db: Database, kind: str, path: Path) -> object:
    return create_import(
        db,
        settings,
        kind=kind,
        source=path,
        original_name=path.name,
        options=ImportOptions(),
        actor=ACTOR,
    )


def read_error_file(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_failing_rows_write_the_error_file_and_nothing_is_applied(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    source = write_csv(
        tmp_path / "vip.csv",
        "Email,Points,Transaction Description,Extra\r\n"
        "m1@example.com,100,Thanks,keep me\r\n"
        'm2@example.com,"1,000",x,\r\n'
        "not-an-email,5,,\r\n"
        "M1@example.com,7,again,\r\n"
        ",,,\r\n"
        'm3@example.com,=1+1,"=HYPERLINK(""x"")",@SUM(A1)\r\n',
    )
    record = run_import(
        members,
        settings,
        kind="points-add",
        source=source,
        original_name="vip.csv",
        options=ImportOptions(),
        actor=ACTOR,
    )
    assert record.status == "invalid"
    assert (record.total_rows, record.failed_rows, record.valid_rows) == (6, 6, 0)
    with members.read() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0
    assert record.error_file is not None and record.error_file.parent == record.folder
    rows = read_error_file(record.error_file)
    assert rows[0] == ["Email", "Points", "Transaction Description", "Extra", "Failure Reason"]
    assert rows[1] == [
        "m1@example.com",
        "100",
        "Thanks",
        "keep me",
        "Contains multiple rows with the same email address",
    ]
    assert rows[2][-1] == "Points to add must be a positive integer"
    assert rows[3][-1] == "Invalid email format"
    assert rows[4][-1] == "Contains multiple rows with the same email address"
    # The row ",,," is blank cells, not a blank line: incomplete.
    assert rows[5][-1] == "Incomplete entry"
    assert rows[6][:4] == ["m3@example.com", "'=1+1", '\'=HYPERLINK("x")', "'@SUM(A1)"]
    assert rows[6][-1] == "Points to add must be a positive integer"
    assert record.first_failures[0] == "row 2: Contains multiple rows with the same email address"
    # The original is kept byte for byte beside it.
    assert record.original_file.read_bytes() == source.read_bytes()


def test_a_valid_file_is_ready_and_writes_no_error_file(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    source = write_csv(tmp_path / "ok.csv", "Email,Points\nm1@example.com,5\nm2@example.com,6\n")
    record = _create(settings, members, "points-add", source)
    assert record.status == "ready"  # type: ignore[attr-defined]
    assert record.error_file is None  # type: ignore[attr-defined]


def test_readers_take_cp1252_bom_semicolons_tabs_crlf_and_quoted_newlines(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    files = {
        "cp1252.csv": (
            "Email;Points;Transaction Description\r\nm1@example.com;5;Caf\xe9\r\n",
            "cp1252",
        ),
        "bom.csv": ("\ufeffEmail,Points\nm1@example.com,5\n", "utf-8"),
        "tabs.csv": ("Email\tPoints\nm1@example.com\t5\n", "utf-8"),
        "newline.csv": (
            'Email,Points,Transaction Description\nm1@example.com,5,"two\nlines"\n',
            "utf-8",
        ),
    }
    for name, (text, encoding) in files.items():
        record = _create(
            settings, members, "points-add", write_csv(tmp_path / name, text, encoding)
        )
        assert record.status == "ready", (name, record)  # type: ignore[attr-defined]


def test_whole_file_problems_are_one_message(
    tmp_path: Path, settings: Settings, members: Database
) -> None:
    no_rows = _create(
        settings, members, "points-add", write_csv(tmp_path / "a.csv", "Email,Points\n")
    )
    assert no_rows.status == "invalid"  # type: ignore[attr-defined]
    assert "no rows" in no_rows.error  # type: ignore[attr-defined]
    wrong = _create(
        settings,
        members,
        "points-add",
        write_csv(tmp_path / "b.csv", "Customer ID,Tier Name\n1,Gold\n"),
    )
    assert "no Points column" in wrong.error and "'Customer ID', 'Tier Name'" in wrong.error  # type: ignore[attr-defined]
    assert "this looks like a tiers file" in wrong.error  # type: ignore[attr-defined]
    sheet = tmp_path / "c.csv"
    sheet.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    spreadsheet = _create(settings, members, "points-add", sheet)
    assert "is a spreadsheet" in spreadsheet.error  # type: ignore[attr-defined]
    assert spreadsheet.error_file is None  # type: ignore[attr-defined]
