"""Exports as real tools save them: Excel's UTF-16 "Unicode Text", JSON null metafields."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from memberkit.domain.codes import parse_code_objects
from memberkit.errors import InputFileError
from memberkit.files.csv_input import open_csv, sniff_encoding


def write_utf16_tab_separated(path: Path, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, delimiter="\t", lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-16"))  # with its byte-order mark


def test_excel_unicode_text_is_read_in_every_encoding_setting(tmp_path: Path) -> None:
    path = tmp_path / "orders.txt"
    rows = [["Name", "Created at", "Discount Code"], ["#1", "2026-11-18 09:14:02 -0500", "ZOË-1"]]
    write_utf16_tab_separated(path, rows)
    for setting in ("auto", "utf-8", "cp1252"):
        assert sniff_encoding(path, setting) == "utf-16"
        with open_csv(path, setting="input.discounts_csv", encoding=setting) as source:
            assert source.header == rows[0]
            assert [cells for _, cells in source.records()] == rows[1:]


def test_a_json_null_metafield_holds_no_codes() -> None:
    assert parse_code_objects("null") == []
    assert parse_code_objects(" null ") == []


@pytest.mark.parametrize("signature", [b"PK\x03\x04", b"\xd0\xcf\x11\xe0"])
def test_a_spreadsheet_given_as_csv_is_named_as_such(tmp_path: Path, signature: bytes) -> None:
    path = tmp_path / "customers_export.csv"
    path.write_bytes(signature + b"\x00" * 100)
    with pytest.raises(InputFileError, match="is a spreadsheet") as err:
        open_csv(path, setting="input.customers_csv", encoding="auto")
    assert str(path) in str(err.value)
    assert err.value.hint is not None and "CSV" in err.value.hint


def test_a_missing_file_named_by_an_argument_does_not_point_to_the_config(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        open_csv(tmp_path / "nope.csv", setting="customers import FILE", encoding="auto")
    assert err.value.hint == "export the file to that path"
