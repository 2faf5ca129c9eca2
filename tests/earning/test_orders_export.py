"""The orders export reader: line items grouped into orders, encodings, unreadable rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.earning.conftest import HEADER, order_rows, write_orders

from memberkit.errors import InputFileError
from memberkit.files.csv_input import open_csv
from memberkit.files.orders_export import OrderRow, UnreadableOrder, read_orders

ZONE = ZoneInfo("Europe/London")


def read(path: Path) -> list[OrderRow | UnreadableOrder]:
    with open_csv(path, setting="orders file", encoding="auto") as source:
        return list(read_orders(source, ZONE))


def test_line_items_are_one_order_with_the_fields_of_its_first_row(tmp_path: Path) -> None:
    path = write_orders(
        tmp_path / "o.csv",
        [
            order_rows(
                "#1001",
                " Ann@Example.com ",
                "42.99",
                status="Partially_Refunded",
                refunded="10.00",
                tags="vip, Wholesale",
                code="SAVE10, FREESHIP",
                items=3,
            ),
            order_rows("#1002", "bob@example.com", "5", currency="eur", items=1),
        ],
    )
    first, second = read(path)
    assert isinstance(first, OrderRow) and isinstance(second, OrderRow)
    assert (first.rows, first.row_number, second.row_number) == (3, 2, 5)
    order = first.order
    assert order.name == "#1001" and order.email == "Ann@Example.com"
    assert order.financial_status == "partially_refunded"
    assert (order.subtotal, order.refunded) == (Decimal("42.99"), Decimal("10.00"))
    assert order.tags == ("vip", "Wholesale")
    assert order.discount_codes == ("SAVE10", "FREESHIP")
    assert order.created_at == dt.datetime(2026, 11, 18, 9, 14, 2, tzinfo=dt.UTC)
    assert second.order.currency == "EUR"


def test_windows_1252_and_semicolons_are_read_like_the_usage_export(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    lines = [";".join(HEADER)]
    row = dict.fromkeys(HEADER, "")
    row.update(
        {
            "Name": "#1",
            "Email": "zoë@example.com",
            "Financial Status": "paid",
            "Subtotal": "10.00",
            "Created at": "2026-11-18 09:14:02 -0500",
            "Tags": "café",
        }
    )
    lines.append(";".join(row[h] for h in HEADER))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    [order] = read(path)
    assert isinstance(order, OrderRow)
    assert order.order.email == "zoë@example.com" and order.order.tags == ("café",)


def test_an_unreadable_first_row_names_its_column(tmp_path: Path) -> None:
    path = write_orders(
        tmp_path / "o.csv",
        [
            order_rows("#1", "a@example.com", "1e3"),
            order_rows("#2", "", "10"),
            order_rows("#3", "c@example.com", "10", cancelled="soon"),
        ],
    )
    reasons = [item.reason for item in read(path) if isinstance(item, UnreadableOrder)]
    assert reasons[0].startswith("Subtotal: ") and "exponent" in reasons[0]
    assert reasons[1].startswith("Email: blank")
    assert reasons[2].startswith("Cancelled at: ")


def test_a_file_without_the_order_columns_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text("Name,Email,Created at\n#1,a@b.c,2026-11-18\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"missing column\(s\) Financial Status, Subtotal"):
        read(path)


names = st.lists(st.integers(1, 9999), min_size=1, max_size=30, unique=True)
items = st.lists(st.integers(1, 4), min_size=30, max_size=30)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(numbers=names, counts=items)
def test_every_order_is_read_once_with_all_its_rows(
    tmp_path: Path, numbers: list[int], counts: list[int]
) -> None:
    orders = [
        order_rows(f"#{n}", f"m{n}@example.com", f"{n}.50", items=c)
        for n, c in zip(numbers, counts, strict=False)
    ]
    path = write_orders(tmp_path / "o.csv", orders)
    read_back = read(path)
    assert [item.order.name for item in read_back if isinstance(item, OrderRow)] == [
        f"#{n}" for n in numbers
    ]
    assert sum(item.rows for item in read_back if isinstance(item, OrderRow)) == sum(
        len(o) for o in orders
    )
