"""Reading real-world exports: encodings, delimiters, line endings, quoting, bad files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberkit.errors import InputFileError
from memberkit.files.csv_input import normalise_header, open_csv, sniff_delimiter, sniff_encoding


def read_all(path: Path, encoding: str = "auto") -> tuple[list[str], list[list[str]]]:
    with open_csv(path, setting="input.customers_csv", encoding=encoding) as source:  # type: ignore[arg-type]
        return source.header, [cells for _, cells in source.records()]


def test_utf8_with_and_without_bom_and_cp1252_are_read_in_auto(tmp_path: Path) -> None:
    text = "ID,Email,Note\n1,chloé@example.fr,£10 off\n"
    for name, data in [
        ("bom.csv", b"\xef\xbb\xbf" + text.encode("utf-8")),
        ("plain.csv", text.encode("utf-8")),
        ("excel.csv", text.encode("cp1252")),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        assert read_all(path) == (["ID", "Email", "Note"], [["1", "chloé@example.fr", "£10 off"]])


def test_auto_detects_cp1252_even_when_the_first_non_ascii_byte_is_late(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_bytes(b"ID,Note\n" + b"1,plain\n" * 200_000 + "2,café\n".encode("cp1252"))
    assert sniff_encoding(path, "auto") == "cp1252"
    assert read_all(path)[1][-1] == ["2", "café"]


def test_a_file_that_is_not_utf8_names_the_setting_when_utf8_is_forced(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("ID,Note\n1,£5\n".encode("cp1252"))
    with pytest.raises(
        InputFileError, match=r"input.customers_csv .* cannot be read as UTF-8"
    ) as info:
        read_all(path, "utf-8")
    assert info.value.hint and "cp1252" in info.value.hint


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_taken_from_the_header(delimiter: str) -> None:
    assert sniff_delimiter(delimiter.join(["ID", "Email", '"Note, long"']) + "\n") == delimiter


def test_crlf_blank_lines_and_multiline_quoted_cells(tmp_path: Path) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(b'ID;Note\r\n\r\n1;"two\r\nlines; and ""quotes"""\r\n2;x\r\n\r\n\r\n')
    assert read_all(path) == (["ID", "Note"], [["1", 'two\r\nlines; and "quotes"'], ["2", "x"]])


def test_row_numbers_count_the_header_as_row_one_and_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("ID\n1\n\n2\n", encoding="utf-8")
    with open_csv(path, setting="s", encoding="auto") as source:
        assert [number for number, _ in source.records()] == [2, 3]


def test_headers_compare_ignoring_case_and_spaces() -> None:
    assert normalise_header("  Created   At ") == normalise_header("created at")
    assert normalise_header("\ufeffID") == "id"


def test_a_missing_file_names_the_setting_and_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"input.customers_csv .*nope.csv: file not found"):
        read_all(tmp_path / "nope.csv")


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\r\n\r\n  \n"])
def test_an_empty_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match="the file is empty"):
        read_all(path)


cell_text = st.text(
    alphabet=st.characters(
        codec="cp1252", exclude_categories=("Cs",), exclude_characters="\x00\r\ufeff"
    ),
    max_size=20,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(cell_text, min_size=3, max_size=3), min_size=1, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
    newline=st.sampled_from(["\r\n", "\n"]),
)
def test_any_customer_rows_read_back_identically(
    tmp_path: Path, rows: list[list[str]], encoding: str, delimiter: str, newline: str
) -> None:
    # A row of only blank text reads as a blank line, which exports never mean as data.
    rows = [row for row in rows if any(cell.strip() for cell in row) and row != ["", "", ""]]
    header = ["ID", "Email", "Metafield: alpkit.discountcodes_2021 [json]"]
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL
    )
    writer.writerow(header)
    writer.writerows(rows)
    path = tmp_path / "generated.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    read_header, read_rows = read_all(path)
    assert read_header == header
    assert read_rows == [row for row in rows if len(row) > 1 or row[0].strip()]


def test_a_quoted_cell_open_at_end_of_file_is_an_error_naming_its_row(tmp_path: Path) -> None:
    path = tmp_path / "swallowed.csv"
    path.write_bytes(
        b"ID,Email,First Name,Last Name\r\n"
        b"6601000000001,ann@example.com,Ann,Jones\r\n"
        b'6601000000003,"c@example.com,Ann,Jones\r\n'
        b"6601000000002,bob@example.com,Bob,Smith\r\n"
    )
    with pytest.raises(InputFileError, match="row 3 opens a quoted cell") as info:
        read_all(path)
    assert info.value.hint and "row 3" in info.value.hint


def test_a_quote_open_in_the_header_is_an_error_naming_row_1(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_bytes(b'ID,"Email\n1,a@example.com\n')
    with pytest.raises(InputFileError, match="row 1 opens a quoted cell"):
        read_all(path)


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b""])
def test_closed_quotes_and_multiline_cells_at_the_end_read_as_before(
    tmp_path: Path, ending: bytes
) -> None:
    path = tmp_path / "fine.csv"
    path.write_bytes(b'ID,Note\n1,"two\nlines"\n2,"last ""quoted"""' + ending)
    assert read_all(path)[1] == [["1", "two\nlines"], ["2", 'last "quoted"']]


@pytest.mark.parametrize("encoding", ["auto", "utf-8", "cp1252"])
def test_a_binary_file_is_not_a_text_csv_and_the_byte_offset_is_given(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"ID,Email\n" + bytes(range(256)) * 8)
    with pytest.raises(InputFileError, match=r"is not a text CSV file .*byte offset 9\b") as info:
        read_all(path, encoding)
    assert info.value.hint and "binary" in info.value.hint


def test_bytes_that_are_neither_utf8_nor_windows_1252_name_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(b"ID,Email\n" + b"1,plain\n" * 10 + b"2,\x81\x8d\n")
    with pytest.raises(InputFileError, match=r"not a text CSV.*byte offset 91 \(0x81\)") as info:
        read_all(path)
    # auto was set already: the hint does not suggest it again
    assert info.value.hint and "'auto'" not in info.value.hint


def test_a_huge_one_line_file_is_not_echoed_whole(tmp_path: Path) -> None:
    from memberkit.config import load_settings
    from memberkit.files.customers_export import customers_layout

    path = tmp_path / "one_line.csv"
    path.write_bytes(b"x" * 5_000_000 + b"," + b"y" * 5_000_000)
    settings = load_settings(None, environ={})
    with (
        open_csv(path, setting="input.customers_csv", encoding="auto") as source,
        pytest.raises(InputFileError) as info,
    ):
        customers_layout(source.header, settings.codes, settings.fields, path=str(path))
    assert len(str(info.value)) < 1000 and "…" in str(info.value)
