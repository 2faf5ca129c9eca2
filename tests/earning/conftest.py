"""The database fixtures of ``tests/ledger`` (SQLite and PostgreSQL), plus orders-export helpers."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from tests.ledger.conftest import database_url, db, postgres_url, sqlite_template

__all__ = ["database_url", "db", "postgres_url", "sqlite_template", "write_orders"]

HEADER = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Currency",
    "Subtotal",
    "Shipping",
    "Total",
    "Discount Code",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Cancelled at",
    "Refunded Amount",
    "Tags",
]


def order_rows(
    name: str,
    email: str,
    subtotal: str,
    *,
    status: str = "paid",
    currency: str = "GBP",
    created: str = "2026-11-18 09:14:02 +0000",
    refunded: str = "0.00",
    cancelled: str = "",
    tags: str = "",
    code: str = "",
    items: int = 2,
) -> list[list[str]]:
    """An order as Shopify exports it: order fields on the first row, then more line items."""
    first = {
        "Name": name,
        "Email": email,
        "Financial Status": status,
        "Paid at": created,
        "Currency": currency,
        "Subtotal": subtotal,
        "Shipping": "4.99",
        "Total": subtotal,
        "Discount Code": code,
        "Created at": created,
        "Lineitem quantity": "1",
        "Lineitem name": "Tent",
        "Cancelled at": cancelled,
        "Refunded Amount": refunded,
        "Tags": tags,
    }
    rows = [[first[h] for h in HEADER]]
    for number in range(1, items):
        item = dict.fromkeys(HEADER, "")
        item.update({"Name": name, "Lineitem quantity": "1", "Lineitem name": f"Item {number}"})
        rows.append([item[h] for h in HEADER])
    return rows


def write_orders(path: Path, orders: Sequence[list[list[str]]]) -> Path:
    """Write an orders export with ``orders`` (each from ``order_rows``)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for rows in orders:
            writer.writerows(rows)
    return path
