"""CsvRowWriter's shortcut writes exactly what csv.writer writes, formula-like cells neutralised."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberkit.files.csv_output import CsvRowWriter, csv_line
from memberkit.files.formula import neutralise_row
from memberkit.files.klaviyo_failed import write_failed_profiles

# Characters the quoting rules care about, often; any other character sometimes.
cell = st.text(
    alphabet=st.sampled_from(list(",\"\r\n\0 a'=é+-@\t5\xa0"))
    | st.characters(exclude_categories=("Cs", "Cc")),
    max_size=12,
)


def csv_writer_line(cells: list[str]) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


@given(st.lists(cell, max_size=6))
def test_csv_line_is_what_csv_writer_writes(cells: list[str]) -> None:
    line = csv_line(cells)
    if line is not None:
        assert line + "\r\n" == csv_writer_line(cells)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=4), max_size=5))
def test_writer_file_is_what_csv_writer_writes(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]]
) -> None:
    path = tmp_path_factory.mktemp("csv") / "out.csv"
    writer = CsvRowWriter(path, ["a", "b"])
    for row in rows:
        writer.write(row)
    writer.close()
    expected = csv_writer_line(["a", "b"]) + "".join(
        csv_writer_line(neutralise_row(row)) for row in rows
    )
    assert path.read_bytes() == expected.encode("utf-8")


def test_json_cell_is_quoted_with_doubled_quotes() -> None:
    cells = ["a@example.com", '[{"code":"X","value":"1.00"}]']
    assert csv_line(cells) == 'a@example.com,"[{""code"":""X"",""value"":""1.00""}]"'
    assert csv_line(["a", "b,c", "d\ne", "f"]) == 'a,"b,c","d\ne",f'
    assert csv_line(["only"]) is None
    assert csv_line(["a", "\0"]) is None


HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1+1)",
    "\t=1+1",
    " =1",
    "\r\n=1",
    "\xa0=1",
]


@pytest.mark.parametrize("cell", HOSTILE)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_every_formula_like_cell_gets_a_quote_wherever_it_stands(
    tmp_path: Path, cell: str, position: int
) -> None:
    row = ["ann@example.com", "enabled", "2021-03-04"]
    row[position] = cell
    path = tmp_path / "out.csv"
    writer = CsvRowWriter(path, ["Email", "State", "Since"])
    writer.write(row)
    writer.close()
    with path.open(encoding="utf-8", newline="") as fh:
        written = list(csv.reader(fh))[1]
    assert written[position] == "'" + cell
    assert all(not c.strip().startswith(("=", "+", "-", "@")) for c in written)


def test_numbers_and_plain_cells_are_written_as_they_are(tmp_path: Path) -> None:
    row = ["ann@example.com", "-5.00", "-5", "DIV-1", "1-2", '[{"code":"X"}]', "a, -b"]
    path = tmp_path / "out.csv"
    writer = CsvRowWriter(path, ["a", "b", "c", "d", "e", "f", "g"])
    writer.write(row)
    writer.close()
    with path.open(encoding="utf-8", newline="") as fh:
        assert list(csv.reader(fh))[1] == row


def test_the_failed_profiles_file_is_formula_safe(tmp_path: Path) -> None:
    path = tmp_path / "klaviyo_failed_2026-11-20.csv"
    write_failed_profiles(path, [({"Email": "a@example.com", "account_state": "=1+1"}, "@x")])
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][0] == "a@example.com"
    assert "'=1+1" in rows[1]
    assert rows[1][-1] == "'@x"
