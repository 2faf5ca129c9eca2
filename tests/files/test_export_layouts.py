"""Finding the columns of a customers export (Matrixify or Shopify) and a usage export."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from memberkit.config import CodesSettings, FieldsSettings
from memberkit.errors import InputFileError
from memberkit.files.csv_input import open_csv
from memberkit.files.customers_export import customers_layout
from memberkit.files.usage_export import read_usage_export, split_codes

LONDON = ZoneInfo("Europe/London")


def layout(header: list[str]):  # type: ignore[no-untyped-def]
    return customers_layout(header, CodesSettings(), FieldsSettings(), path="export.csv")


def test_matrixify_headers_with_types_and_odd_spacing() -> None:
    found = layout(
        [
            " ID ",
            "EMAIL",
            "State",
            "Created At",
            "Metafield: alpkit.discountcodes_2021 [json]",
            "metafield:alpkit.usedcodes_2021",
            "Metafield: alpkit.expiredcodes_2021 [list.single_line_text_field]",
        ]
    )
    assert (found.id, found.email, found.account_state, found.member_since) == (0, 1, 2, 3)
    assert (found.available, found.used, found.expired) == (4, 5, 6)


def test_shopify_customer_export_headers() -> None:
    found = layout(
        [
            "Customer ID",
            "First Name",
            "Email",
            "Dividend codes (customer.metafields.alpkit.discountcodes_2021)",
            "Used (customer.metafields.alpkit.usedcodes_2021)",
        ]
    )
    assert (found.id, found.email, found.available, found.used, found.expired) == (0, 2, 3, 4, None)
    assert found.account_state is None and found.member_since is None


def test_other_namespaces_do_not_match() -> None:
    with pytest.raises(InputFileError):
        layout(["ID", "Email", "Metafield: other.discountcodes_2021 [json]"])


def test_missing_columns_are_named_with_the_columns_found() -> None:
    with pytest.raises(InputFileError) as info:
        layout(["Id", "First Name"])
    message = str(info.value)
    assert message.startswith("input.customers_csv export.csv: missing column(s) Email, Metafield")
    assert "columns found: 'Id', 'First Name'" in message


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(text, encoding="utf-8")
    return path


def read_usage(path: Path):  # type: ignore[no-untyped-def]
    with open_csv(path, setting="input.discounts_csv", encoding="auto") as source:
        return read_usage_export(source, LONDON)


def test_orders_export_with_line_items_and_several_codes_in_a_cell(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Name,Email,Created at,Discount Code,Lineitem name\n"
        '#1002,bob@example.com,2026-11-18 09:14:02 -0500,"DIV-1, FREESHIP",Jacket\n'
        "#1002,bob@example.com,2026-11-18 09:14:02 -0500,,Sack\n"
        "#1003,kim@example.com,2026-11-19 08:00:00 +0000, div-2 ,Vest\n",
    )
    usage = read_usage(path)
    assert usage.rows == 3 and usage.rows_with_codes == 2 and usage.code_mentions == 3
    assert set(usage.uses) == {"div-1", "freeship", "div-2"}
    assert usage.uses["div-1"].order == "#1002"
    assert usage.uses["div-1"].used_on == dt.date(2026, 11, 18)
    assert usage.rejects == []


def test_discount_report_headers(tmp_path: Path) -> None:
    path = write(tmp_path, "Discount code;Customer email;Date\nDIV-9;a@b.c;2026-11-17\n")
    usage = read_usage(path)
    assert usage.uses["div-9"].used_on == dt.date(2026, 11, 17)
    assert usage.uses["div-9"].order == ""


def test_a_usage_row_with_an_unreadable_date_is_rejected_with_the_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Name,Created at,Discount Code\n#1,18/11/2026 09:14,DIV-1\n#2,not a date,\n",
    )
    usage = read_usage(path)
    assert usage.uses == {}
    [rejected] = usage.rejects
    assert rejected.cells == ["#1", "18/11/2026 09:14", "DIV-1"]
    assert rejected.reason.startswith("Created at: '18/11/2026 09:14' is not a date")


def test_a_usage_export_without_a_code_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "Name,Created at\n#1,2026-11-18\n")
    with pytest.raises(
        InputFileError, match=r"input.discounts_csv .*missing column\(s\) Discount Code"
    ):
        read_usage(path)


def test_split_codes() -> None:
    assert split_codes(" A , b,, ") == ["A", "b"]
    assert split_codes("") == []
