"""Shopify's orders export, read as orders: one ``Order`` per order, in one streaming pass.

The export has one row per line item; the order's own fields (``Email``,
``Financial Status``, ``Subtotal``, ``Currency``, ``Refunded Amount``,
``Cancelled at``, ``Created at``, ``Tags``, ``Discount Code``) are filled on
its first row only, and ``Name`` (``#1001``) is on every row. The same
reader and encodings as the usage export (``files.csv_input``).

A first row whose fields cannot be read (a subtotal that is not money, a date
that is not a date, no email) is rejected with the reason naming the column;
the order's other rows go with it and are not counted again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from memberkit.domain.dates import DateParseError, parse_moment
from memberkit.domain.earning import Order
from memberkit.domain.echo import echo
from memberkit.domain.money import parse_money
from memberkit.errors import InputFileError
from memberkit.files.csv_input import CsvSource
from memberkit.files.headers import RepeatedColumnError, describe_columns, find_column
from memberkit.files.usage_export import split_codes

SETTING = "orders file"
ZERO = Decimal(0)

_REQUIRED = ("Name", "Email", "Financial Status", "Subtotal", "Created at")
_OPTIONAL = ("Currency", "Refunded Amount", "Cancelled at", "Tags", "Discount Code", "Id")


@dataclass(frozen=True, slots=True)
class OrdersLayout:
    """Column positions (None: the export has no such column)."""

    name: int
    email: int
    financial_status: int
    subtotal: int
    created_at: int
    currency: int | None
    refunded: int | None
    cancelled_at: int | None
    tags: int | None
    discount_code: int | None
    order_id: int | None = None

    @property
    def width(self) -> int:
        positions = (
            self.name,
            self.email,
            self.financial_status,
            self.subtotal,
            self.created_at,
            self.currency,
            self.refunded,
            self.cancelled_at,
            self.tags,
            self.discount_code,
            self.order_id,
        )
        return max(p for p in positions if p is not None) + 1


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order as read: the ``Order``, its first row (number and cells) and its row count."""

    order: Order
    row_number: int
    cells: list[str]
    rows: int


@dataclass(frozen=True, slots=True)
class UnreadableOrder:
    """An order whose first row could not be read, and why (the column named)."""

    name: str
    row_number: int
    cells: list[str]
    reason: str


def orders_layout(source: CsvSource) -> OrdersLayout:
    """Find the columns; ``InputFileError`` naming what is missing or repeated."""
    header = source.header
    try:
        found = {name: find_column(header, name) for name in (*_REQUIRED, *_OPTIONAL)}
        if found["Discount Code"] is None:
            found["Discount Code"] = find_column(header, "Discount Codes")
    except RepeatedColumnError as exc:
        raise InputFileError(
            f"{source.setting} {source.path}: a column appears more than once: {exc}",
            hint="export the file again, or delete or rename the extra column",
        ) from None
    missing = [name for name in _REQUIRED if found[name] is None]
    if missing:
        raise InputFileError(
            f"{source.setting} {source.path}: missing column(s) {', '.join(missing)}; "
            f"{describe_columns(header)}",
            hint="export orders from Shopify (Orders > Export, 'Plain CSV file')",
        )
    return OrdersLayout(
        name=found["Name"],  # type: ignore[arg-type]
        email=found["Email"],  # type: ignore[arg-type]
        financial_status=found["Financial Status"],  # type: ignore[arg-type]
        subtotal=found["Subtotal"],  # type: ignore[arg-type]
        created_at=found["Created at"],  # type: ignore[arg-type]
        currency=found["Currency"],
        refunded=found["Refunded Amount"],
        cancelled_at=found["Cancelled at"],
        tags=found["Tags"],
        discount_code=found["Discount Code"],
        order_id=found["Id"],
    )


def read_orders(source: CsvSource, zone: ZoneInfo) -> Iterator[OrderRow | UnreadableOrder]:
    """Every order of the export, in file order; rows of one order must be together."""
    layout = orders_layout(source)
    width = layout.width
    header = source.header
    current: tuple[str, int, list[str]] | None = None
    count = 0
    for number, cells in source.records():
        padded = cells if len(cells) >= width else cells + [""] * (width - len(cells))
        name = padded[layout.name].strip()
        if current is not None and name == current[0]:
            count += 1
            continue
        if current is not None:
            yield _order(current, count, layout, header, zone)
        current = (name, number, cells)
        count = 1
    if current is not None:
        yield _order(current, count, layout, header, zone)


def _order(
    first: tuple[str, int, list[str]],
    rows: int,
    layout: OrdersLayout,
    header: list[str],
    zone: ZoneInfo,
) -> OrderRow | UnreadableOrder:
    name, number, cells = first
    width = layout.width
    padded = cells if len(cells) >= width else cells + [""] * (width - len(cells))

    def column(position: int) -> str:
        return header[position].strip()

    def cell(position: int | None) -> str:
        return padded[position].strip() if position is not None else ""

    def bad(position: int, what: str) -> UnreadableOrder:
        return UnreadableOrder(name, number, cells, f"{column(position)}: {what}")

    if not name:
        return bad(layout.name, "blank (every order has a name such as #1001)")
    email = cell(layout.email)
    if not email:
        return bad(layout.email, "blank (the order's customer email is needed to earn points)")
    try:
        subtotal = parse_money(cell(layout.subtotal) or "0")
    except ValueError as exc:
        return bad(layout.subtotal, str(exc))
    refunded = ZERO
    if layout.refunded is not None and cell(layout.refunded):
        try:
            refunded = parse_money(cell(layout.refunded))
        except ValueError as exc:
            return bad(layout.refunded, str(exc))
    try:
        created_at = parse_moment(cell(layout.created_at), zone)
    except DateParseError:
        return bad(
            layout.created_at,
            f"{echo(cell(layout.created_at))} is not a date and time "
            "(expected e.g. 2026-11-18 09:14:02 -0500)",
        )
    cancelled_at = None
    if layout.cancelled_at is not None and cell(layout.cancelled_at):
        try:
            cancelled_at = parse_moment(cell(layout.cancelled_at), zone)
        except DateParseError:
            return bad(
                layout.cancelled_at, f"{echo(cell(layout.cancelled_at))} is not a date and time"
            )
    tags = tuple(t.strip() for t in cell(layout.tags).split(",") if t.strip())
    order = Order(
        name=name,
        email=email,
        financial_status=cell(layout.financial_status).lower(),
        subtotal=subtotal,
        currency=cell(layout.currency).upper(),
        created_at=created_at,
        refunded=refunded,
        cancelled_at=cancelled_at,
        tags=tags,
        discount_codes=tuple(split_codes(cell(layout.discount_code))),
        shopify_id=cell(layout.order_id) or None,
    )
    return OrderRow(order, number, cells, rows)
