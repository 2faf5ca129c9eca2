"""The streaming XLSX writer, read back with openpyxl."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberkit.files.xlsx_output import XlsxSheetWriter, column_letter


def write_and_read(path: Path, rows: list[list[str]]) -> list[tuple[object, ...]]:
    writer = XlsxSheetWriter(path, "Customers", ["ID", "email", "JSON"])
    for row in rows:
        writer.write(row)
    writer.close()
    workbook = openpyxl.load_workbook(path, read_only=True)
    assert workbook.sheetnames == ["Customers"]
    values = [tuple(row) for row in workbook["Customers"].iter_rows(values_only=True)]
    workbook.close()
    return values


def test_cells_are_text_and_never_formulas_numbers_or_links(tmp_path: Path) -> None:
    rows = [
        ["6601000000001", '=HYPERLINK("http://x")', '[{"code":"A","value":"10.00"}]'],
        ["00042", "+44 1234", "http://example.com"],
        ["1e5", "-1", "@SUM(A1)"],
    ]
    values = write_and_read(tmp_path / "t.xlsx", rows)
    assert values[0] == ("ID", "email", "JSON")
    assert values[1:] == [tuple(r) for r in rows]
    workbook = openpyxl.load_workbook(tmp_path / "t.xlsx")
    cell = workbook["Customers"]["B2"]
    assert cell.data_type == "s" and cell.hyperlink is None


def test_empty_cells_stay_empty(tmp_path: Path) -> None:
    assert write_and_read(tmp_path / "t.xlsx", [["1", "", "[]"]])[1] == ("1", None, "[]")


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


# openpyxl does not decode Excel's _xHHHH_ escapes (Excel does): those have their own test.
text = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"),
    min_size=1,
    max_size=30,
).filter(lambda t: not re.search("_x[0-9A-Fa-f]{4}_", t))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(text, min_size=3, max_size=3), max_size=5))
def test_any_text_reads_back_identically(tmp_path: Path, rows: list[list[str]]) -> None:
    # <&>, quotes, spaces at the ends, emoji, any script...
    values = write_and_read(tmp_path / "h.xlsx", rows)
    assert values[1:] == [tuple(r) for r in rows]


def test_characters_xml_cannot_hold_use_excels_escape_and_lookalikes_are_protected(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.xlsx"
    writer = XlsxSheetWriter(path, "Customers", ["A"])
    writer.write(["bell\x07 and john_xabcd_smith"])
    writer.close()
    sheet = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    # Excel shows these as the original text (it decodes _xHHHH_, and _x005F_ is "_").
    assert "bell_x0007_ and john_x005F_xabcd_smith" in sheet


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.lists(st.text(max_size=6) | st.sampled_from(["", " a", "\x00", "_x0041_"]), max_size=4),
        max_size=5,
    )
)
def test_rows_rendered_as_templates_are_the_same_bytes(
    tmp_path: Path, rows: list[list[str]]
) -> None:
    from memberkit.files.xlsx_output import column_letters, row_template

    header = ["a", "b", "c"]
    direct, templated = tmp_path / "direct.xlsx", tmp_path / "templated.xlsx"
    one = XlsxSheetWriter(direct, "S", header)
    two = XlsxSheetWriter(templated, "S", header)
    for row in rows:
        one.write(row)
        two.write_template(row_template(row, column_letters(len(header))))
    one.close()
    two.close()
    with zipfile.ZipFile(direct) as a, zipfile.ZipFile(templated) as b:
        name = "xl/worksheets/sheet1.xml"
        assert a.read(name) == b.read(name)
    assert one.rows_written == two.rows_written == len(rows)
