"""Synthetic data for the earning benchmark: a 7-day orders export and its members.

    python benchmarks/earning/generate.py --orders 500000 --members 100000

writes ``orders.csv`` (Shopify's orders export layout: one row per line item,
the order fields on the first row; about 3 rows per order, so 1.5 M rows for
500,000 orders; 2% partly refunded, 1% cancelled, 1% pending payment, 1% in
another currency, 1% by unknown customers) and ``members.csv`` (email per
member) under ``benchmarks/out/earning-<orders>/``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

HEADER = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
    "Refunded Amount",
    "Cancelled at",
    "Tags",
    "Id",
]


def data_dir(orders: int) -> Path:
    """Where the data of a run with ``orders`` orders lives."""
    return Path(__file__).resolve().parents[1] / "out" / f"earning-{orders}"


def generate(orders: int, members: int, seed: int = 2026) -> Path:
    """Write the export and members files; return their folder."""
    rng = random.Random(seed)
    out = data_dir(orders)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "members.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email"])
        for i in range(1, members + 1):
            writer.writerow([f"member{i}@example.com"])
    start = dt.datetime(2026, 11, 13, 0, 0, tzinfo=dt.UTC)
    week = 7 * 24 * 3600
    with (out / "orders.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        rows = 0
        for n in range(orders):
            roll = rng.random()
            member = rng.randint(1, members)
            email = f"member{member}@example.com" if roll >= 0.01 else f"guest{n}@example.com"
            status = "paid"
            refunded = "0.00"
            cancelled = ""
            currency = "GBP"
            subtotal = f"{rng.randint(500, 25000) / 100:.2f}"
            if 0.01 <= roll < 0.03:
                status, refunded = "partially_refunded", f"{float(subtotal) / 3:.2f}"
            elif 0.03 <= roll < 0.04:
                cancelled = "2026-11-20 10:00:00 +0000"
            elif 0.04 <= roll < 0.05:
                status = "pending"
            elif 0.05 <= roll < 0.06:
                currency = "EUR"
            created = (start + dt.timedelta(seconds=rng.randrange(week))).strftime(
                "%Y-%m-%d %H:%M:%S +0000"
            )
            items = rng.choice((2, 3, 3, 4))
            name = f"#{100000 + n}"
            first = [
                name,
                email,
                status,
                created,
                "fulfilled",
                currency,
                subtotal,
                "4.99",
                "0.00",
                subtotal,
                "",
                "0.00",
                created,
                "1",
                "Tent",
                subtotal,
                "SKU-1",
                refunded,
                cancelled,
                "",
                str(5_000_000_000 + n),
            ]
            writer.writerow(first)
            blank = [""] * len(HEADER)
            for item in range(1, items):
                line = list(blank)
                line[0] = name
                line[13], line[14], line[15] = "1", f"Item {item}", "9.99"
                writer.writerow(line)
            rows += items
    print(f"{orders:,} orders, {rows:,} rows, {members:,} members in {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=500_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    generate(args.orders, args.members, args.seed)


if __name__ == "__main__":
    main()
