"""CsvRowWriter's shortcut writes exactly what csv.writer writes."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberkit.files.csv_output import CsvRowWriter, csv_line

# Characters the quoting rules care about, often; any other character sometimes.
cell = st.text(
    alphabet=st.sampled_from(list(",\"\r\n\0 a'=é"))
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
    expected = csv_writer_line(["a", "b"]) + "".join(csv_writer_line(row) for row in rows)
    assert path.read_bytes() == expected.encode("utf-8")


def test_json_cell_is_quoted_with_doubled_quotes() -> None:
    cells = ["a@example.com", '[{"code":"X","value":"1.00"}]']
    assert csv_line(cells) == 'a@example.com,"[{""code"":""X"",""value"":""1.00""}]"'
    assert csv_line(["a", "b,c", "d\ne", "f"]) == 'a,"b,c","d\ne",f'
    assert csv_line(["only"]) is None
    assert csv_line(["a", "\0"]) is None
