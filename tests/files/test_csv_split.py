"""Splitting an export at a record boundary for two readers."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberkit.files.csv_input import open_csv
from memberkit.files.csv_split import open_csv_range, record_boundary, records_from


def test_a_line_end_inside_quotes_is_not_a_boundary(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b'ID,Note\r\n1,"a\r\nb ""quoted"" \r\nc"\r\n2,x\r\n')
    inside = path.read_bytes().index(b"a\r\n") + 1
    boundary = record_boundary(path, inside)
    assert path.read_bytes()[boundary:] == b"2,x\r\n"
    assert record_boundary(path, path.stat().st_size - 2) is None


cells = st.lists(st.sampled_from(["a", "é", '"', ",", "\n", "\r\n", " "]), max_size=6).map("".join)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(cells, min_size=2, max_size=2), min_size=1, max_size=12),
    share=st.floats(min_value=0, max_value=1),
    encoding=st.sampled_from(["utf-8-sig", "cp1252"]),
)
def test_the_two_parts_hold_exactly_the_records_of_the_whole(
    tmp_path: Path, rows: list[list[str]], share: float, encoding: str
) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["ID", "Note"])
    writer.writerows([[str(i), note] for i, (_, note) in enumerate(rows)])
    path = tmp_path / "c.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    with open_csv(path, setting="s", encoding="auto") as whole:
        expected = [cells for _, cells in whole.records()]
        boundary = record_boundary(path, int(whole.size * share))
        if boundary is None:
            return
        with (
            open_csv_range(whole, 0, boundary) as first,
            open_csv_range(whole, boundary, whole.size) as second,
        ):
            got = [c for _, c in first.records()] + [c for _, c in second.records()]
    assert got == expected


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(cells, min_size=2, max_size=2), min_size=1, max_size=12),
    share=st.floats(min_value=0, max_value=1),
    encoding=st.sampled_from(["utf-8-sig", "cp1252"]),
)
def test_records_from_a_boundary_are_the_records_of_the_rest(
    tmp_path: Path, rows: list[list[str]], share: float, encoding: str
) -> None:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([["ID", "Note"], *rows])
    path = tmp_path / "c.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    with open_csv(path, setting="s", encoding="auto") as whole:
        boundary = record_boundary(path, int(whole.size * share))
        if boundary is None:
            return
        with open_csv_range(whole, boundary, whole.size) as rest:
            expected = [c for _, c in rest.records()]
        found = list(records_from(path, boundary, whole.encoding, ","))
    assert [c for _, c in found] == expected
    for offset, cells in found:  # each offset is where its record starts
        assert next(records_from(path, offset, whole.encoding, ","))[1] == cells
