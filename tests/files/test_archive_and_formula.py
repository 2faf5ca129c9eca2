"""Archiving earlier outputs without overwriting, copies, formula safety, rejects files."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from memberkit.files.archive import (
    archive_earlier_outputs,
    copy_output,
    earlier_outputs,
    move_without_overwrite,
)
from memberkit.files.formula import is_formula_like, neutralise
from memberkit.files.rejects import RejectsFile

NOW = dt.datetime(2026, 11, 20, 6, 30, 15)
PATTERNS = ["customers_%s.xlsx", "max_value_%s.csv", "rejects_%s.csv", "rejects_usage_%s.csv"]


def test_only_files_of_our_patterns_are_earlier_outputs(tmp_path: Path) -> None:
    for name in [
        "customers_2026-11-19.xlsx",
        "max_value_2026-11-19.csv",
        "rejects_usage_2026-11-19.csv",
        "notes.txt",
        "customers_latest.xlsx",
        ".customers_2026-11-20.xlsx.abc.tmp",
    ]:
        (tmp_path / name).write_text(name)
    assert [p.name for p in earlier_outputs(tmp_path, PATTERNS)] == [
        "customers_2026-11-19.xlsx",
        "max_value_2026-11-19.csv",
        "rejects_usage_2026-11-19.csv",
    ]


def test_archiving_never_overwrites_a_name_clash_gets_the_time(tmp_path: Path) -> None:
    out, archive = tmp_path / "output", tmp_path / "output" / "archive"
    archive.mkdir(parents=True)
    (archive / "max_value_2026-11-19.csv").write_text("oldest")
    (archive / "max_value_2026-11-19-063015.csv").write_text("older")
    (out / "max_value_2026-11-19.csv").write_text("earlier")
    moved = archive_earlier_outputs(out, archive, PATTERNS, NOW)
    assert [p.name for p in moved] == ["max_value_2026-11-19-063015-2.csv"]
    assert (archive / "max_value_2026-11-19.csv").read_text() == "oldest"
    assert (archive / "max_value_2026-11-19-063015.csv").read_text() == "older"
    assert moved[0].read_text() == "earlier"
    assert not (out / "max_value_2026-11-19.csv").exists()


def test_move_without_overwrite_into_a_new_folder(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("x")
    assert move_without_overwrite(source, tmp_path / "new", NOW) == tmp_path / "new" / "a.csv"


def test_a_copy_to_a_directory_keeps_the_dated_name_and_to_a_file_replaces_it(
    tmp_path: Path,
) -> None:
    source = tmp_path / "max_value_2026-11-20.csv"
    source.write_text("new")
    folder = tmp_path / "shared"
    folder.mkdir()
    assert copy_output(source, folder) == folder / source.name
    target = tmp_path / "klaviyo.csv"
    target.write_text("old")
    assert copy_output(source, target) == target
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "klaviyo.csv",
        "max_value_2026-11-20.csv",
        "shared",
    ]


def test_formula_like_text() -> None:
    for text in ["=1+1", "+44", "-1+1", "@SUM(A1)", "  =x", "\t=1+1", "\r\n=1"]:
        assert is_formula_like(text)
        assert neutralise(text) == "'" + text
    # A number stays a number (issue 9): a spreadsheet reads it as the number it is.
    for text in ["-5", "-5.00"]:
        assert is_formula_like(text)
        assert neutralise(text) == text
    for text in ["ann@example.com", "DIV-1", "", "1-2"]:
        assert not is_formula_like(text)
        assert neutralise(text) == text


def test_rejects_file_is_only_created_on_the_first_reject_and_neutralises_cells(
    tmp_path: Path,
) -> None:
    target = tmp_path / "rejects_2026-11-20.csv"
    empty = RejectsFile(target, ["ID", "Email"])
    assert empty.commit() is None
    assert not target.exists()
    rejects = RejectsFile(target, ["ID", "Email", "Note"])
    rejects.write(["1", "=cmd|' /C calc'!A0"], "Email: starts with '='")
    assert rejects.commit() == target
    with target.open(encoding="utf-8", newline="") as fh:
        assert list(csv.reader(fh)) == [
            ["ID", "Email", "Note", "Failure Reason"],
            ["1", "'=cmd|' /C calc'!A0", "", "Email: starts with '='"],
        ]
    assert target.read_bytes().endswith(b"\r\n")


def test_failure_reason_is_the_last_column_whatever_the_row_width(tmp_path: Path) -> None:
    target = tmp_path / "rejects_2026-11-20.csv"
    rejects = RejectsFile(target, ["ID", "Email", "Note"])
    rejects.write(["1", "a@example.com", "x", "y", "z", "", ""], "row has 7 cells")
    rejects.write(["2"], "short")
    rejects.write(["3", "b@example.com", "n"], "fits")
    assert rejects.commit() == target
    with target.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["ID", "Email", "Note", "Failure Reason"]
    assert rows[1] == ["1", "a@example.com", "x,y,z", "row has 7 cells"]
    assert rows[2] == ["2", "", "", "short"]
    assert rows[3] == ["3", "b@example.com", "n", "fits"]
    assert {len(row) for row in rows} == {4}
