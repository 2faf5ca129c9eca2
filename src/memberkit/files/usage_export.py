"""The discount-code usage export: which codes were used, in which order, when.

Accepted: Shopify's orders export (``Name``, ``Created at`` like
``2026-11-18 09:14:02 -0500``, ``Discount Code``; one row per line item with the
code only on an order's first row; a cell may hold several codes separated by
commas) and a discount report (``Discount code``, ``Customer email``, ``Date``).
A row with a code but an unreadable date is rejected (kept, with the reason);
rows without a code are line items and are passed over.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from memberkit.domain.codes import code_key
from memberkit.domain.dates import DateParseError, parse_moment
from memberkit.domain.echo import echo
from memberkit.domain.rewards import CodeUse, earliest_uses, repeated_uses
from memberkit.errors import InputFileError
from memberkit.files.csv_input import CsvSource
from memberkit.files.headers import RepeatedColumnError, describe_columns, find_column

SETTING = "input.discounts_csv"


@dataclass
class RejectedRow:
    """A source row that could not be used, with the reason (naming the column)."""

    row_number: int
    cells: list[str]
    reason: str


@dataclass
class UsageExport:
    """What the usage export says: each code's earliest use, and the counts."""

    uses: dict[str, CodeUse]
    header: list[str]
    rows: int = 0
    rows_with_codes: int = 0
    code_mentions: int = 0
    rejects: list[RejectedRow] = field(default_factory=list)
    # Codes used in two or more orders: every use, earliest first (the code reuse file).
    repeated: dict[str, list[CodeUse]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UsageLayout:
    code: int
    date: int
    order: int | None


def usage_layout(source: CsvSource) -> UsageLayout:
    """Locate the code, date and order columns; raise ``InputFileError`` if code or date lacks."""
    header = source.header
    try:
        code = find_column(header, "Discount Code", "Discount Codes")
        date = find_column(header, "Created at", "Date", "Processed at", "Paid at")
        order = find_column(header, "Name", "Order", "Order name", "Order Name")
    except RepeatedColumnError as exc:
        raise InputFileError(
            f"{source.setting} {source.path}: a column appears more than once: {exc}",
            hint="export the file again, or delete or rename the extra column",
        ) from None
    missing = [name for name, col in (("Discount Code", code), ("Created at", date)) if col is None]
    if code is None or date is None:
        raise InputFileError(
            f"{source.setting} {source.path}: missing column(s) {', '.join(missing)} "
            f"(or 'Discount code' / 'Date' in a discount report); {describe_columns(header)}",
            hint="export orders from Shopify (Orders > Export) for the last 7 days",
        )
    return UsageLayout(code=code, date=date, order=order)


def split_codes(cell: str) -> list[str]:
    """The codes in a ``Discount Code`` cell: comma-separated, trimmed, blanks dropped."""
    return [part.strip() for part in cell.split(",") if part.strip()]


def read_usage_export(source: CsvSource, zone: ZoneInfo) -> UsageExport:
    """Read every usage row; earliest use per code (codes compared trimmed, lower-cased)."""
    layout = usage_layout(source)
    result = UsageExport(uses={}, header=list(source.header))
    pairs = list(_uses(source, layout, zone, result))  # a week of orders: small
    result.uses = earliest_uses(pairs)
    result.repeated = repeated_uses(pairs)
    return result


def _uses(
    source: CsvSource, layout: UsageLayout, zone: ZoneInfo, result: UsageExport
) -> Iterator[tuple[str, CodeUse]]:
    date_name = source.header[layout.date].strip()
    width = max(layout.code, layout.date, layout.order or 0) + 1
    for number, cells in source.records():
        result.rows += 1
        padded = cells if len(cells) >= width else cells + [""] * (width - len(cells))
        codes = split_codes(padded[layout.code])
        if not codes:
            continue
        result.rows_with_codes += 1
        text = padded[layout.date]
        try:
            moment = parse_moment(text, zone)
        except DateParseError:
            reason = (
                f"{date_name}: {echo(text)} is not a date and time "
                "(expected e.g. 2026-11-18 09:14:02 -0500)"
            )
            result.rejects.append(RejectedRow(number, cells, reason))
            continue
        order = padded[layout.order].strip() if layout.order is not None else ""
        use = CodeUse(order=order, used_on=moment.astimezone(zone).date(), moment=moment)
        for code in codes:
            result.code_mentions += 1
            yield code_key(code), use
