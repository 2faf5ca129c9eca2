"""``customers import``: upsert members from a Matrixify or Shopify customers export.

Uses the rewards update's reader (``files.csv_input`` for encodings and
delimiters, ``files.customers_export`` for the columns) and its row rules
(``services.rewards.rows.CustomerRowRules``: id, email syntax and ownership,
code JSON, values, expiry dates, cell sizes), so both commands accept and
reject the same rows for the same reasons. Unlike the update it accepts any
customers export with an ``ID`` and an ``Email`` (Shopify's own has no code
metafields): a code column that is absent leaves the stored list as it is.

Each data row becomes a ``MemberRecord``: Shopify id, email, names, account
state, member since, and where present ``Birthday`` (``YYYY-MM-DD``),
``Gender``, ``Tags``, ``Accepts Email Marketing`` (yes/no/true/false),
``Total Spent`` (money, as in the code rules) and ``Orders Count`` (a whole
number, at most 2,147,483,647); a bad cell in those columns rejects its row
with a reason. Names and gender are trimmed text of at most 255 characters
(tags: an Excel cell) without control characters; the account state is read
as the update reads it. An
unreadable ``Created At`` is left blank, counted and warned about (as in the
update). Rejected rows, and rows whose email belongs to another stored
member, are reported with their row number and written as read, plus a
``Failure Reason``, to ``rejects_customers_import_<timestamp>.csv`` in
``output.directory``, so nothing is lost; a repeated ID keeps its first row,
as in the update.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from memberkit.config import Settings
from memberkit.domain.codes import CodeParser, dump_compact
from memberkit.domain.dates import leading_date
from memberkit.domain.echo import echo
from memberkit.domain.members import MemberRecord
from memberkit.domain.money import parse_money
from memberkit.files.csv_input import open_csv
from memberkit.files.customers_export import CustomersLayout, customers_layout
from memberkit.files.formula import EXCEL_CELL_LIMIT
from memberkit.files.rejects import RejectsFile
from memberkit.runlog import get_logger
from memberkit.services.ledger.members import upsert_members_from_export
from memberkit.services.rewards.rows import CustomerRowRules, RowRejected
from memberkit.store.database import Database

SETTING = "customers import FILE"
#: Longest name, gender or account state kept (a longer one is not a name).
MAX_TEXT = 255
MAX_ORDERS = 2**31 - 1
_YES = frozenset({"yes", "true"})
_NO = frozenset({"no", "false"})

log = get_logger(__name__)


@dataclass
class CustomersImportResult:
    """What an import did, and the rows it skipped as (row number, reason)."""

    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_repeated_id: int = 0
    member_since_unreadable: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rejects_file: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = dict(self.__dict__)
        data["rejected"] = [{"row": row, "reason": reason} for row, reason in self.rejected]
        data["rejects_file"] = str(self.rejects_file) if self.rejects_file else None
        return data


class _RecordReader:
    """One row of the export into a ``MemberRecord``, through the shared row rules."""

    def __init__(self, layout: CustomersLayout, settings: Settings) -> None:
        self.layout = layout
        self.rules = CustomerRowRules(layout=layout, parser=CodeParser(settings.processing.zone))
        self.width = max(self.rules.width, len(layout.header))

    def record(
        self, number: int, cells: list[str], result: CustomersImportResult
    ) -> MemberRecord | None:
        """The row's record, None for a repeated ID; raise ``RowRejected``."""
        layout, rules = self.layout, self.rules
        row = cells if len(cells) >= self.width else cells + [""] * (self.width - len(cells))
        admitted = rules.admit(row, cells)
        if admitted is None:
            return None
        shopify_id, email, _ = admitted
        available = self._codes(layout.available, row, available=True)
        used = self._codes(layout.used, row)
        expired = self._codes(layout.expired, row)
        member_since: dt.date | None = None
        if layout.member_since is not None:
            since = rules.member_since(row[layout.member_since])
            if since is None:
                result.member_since_unreadable += 1
            elif since:
                member_since = dt.date.fromisoformat(since)
        return MemberRecord(
            shopify_id=shopify_id,
            email=email or None,
            first_name=self._text(layout.first_name, row),
            last_name=self._text(layout.last_name, row),
            # Read as the update reads it (trimmed, unchecked): the two commands share its rules.
            account_state=(
                row[layout.account_state].strip() or None
                if layout.account_state is not None
                else None
            ),
            member_since=member_since,
            birthday=self._birthday(row),
            gender=self._text(layout.gender, row),
            tags=self._text(layout.tags, row, limit=EXCEL_CELL_LIMIT),
            accepts_email_marketing=self._yes_no(row),
            total_spent=self._total_spent(row),
            orders_count=self._orders_count(row),
            codes_available=available,
            codes_used=used,
            codes_expired=expired,
            source_row=number,
        )

    def _codes(self, column: int | None, row: list[str], *, available: bool = False) -> str | None:
        if column is None:
            return None  # not in this file: the stored list stays
        objects = self.rules.code_objects(column, row[column])
        if available:
            self.rules.available_codes(objects)  # the same value and expiry rules as the update
        try:
            return dump_compact(objects)
        except (RecursionError, ValueError):
            raise RowRejected(
                f"{self.layout.name(column)}: code list nested too deeply; correct it in Shopify"
            ) from None

    def _text(self, column: int | None, row: list[str], limit: int = MAX_TEXT) -> str | None:
        if column is None:
            return None
        text = row[column].strip()
        if not text:
            return None
        if len(text) > limit:
            raise RowRejected(
                f"{self.layout.name(column)}: {len(text):,} characters, more than {limit:,}"
            )
        if not text.isprintable() and any(
            unicodedata.category(char) == "Cc" and char not in "\t\n\r" for char in text
        ):
            raise RowRejected(
                f"{self.layout.name(column)}: {echo(text)} contains a control character"
            )
        return text

    def _birthday(self, row: list[str]) -> dt.date | None:
        column = self.layout.birthday
        if column is None or not row[column].strip():
            return None
        text = row[column].strip()
        day = leading_date(text)
        if not day:
            raise RowRejected(
                f"{self.layout.name(column)}: {echo(text)} is not a date (expected YYYY-MM-DD)"
            )
        return dt.date.fromisoformat(day)

    def _yes_no(self, row: list[str]) -> bool | None:
        column = self.layout.accepts_email_marketing
        if column is None or not row[column].strip():
            return None
        text = row[column].strip().lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
        raise RowRejected(
            f"{self.layout.name(column)}: {echo(row[column].strip())} is not yes, no, true or false"
        )

    def _total_spent(self, row: list[str]) -> Decimal | None:
        column = self.layout.total_spent
        if column is None or not row[column].strip():
            return None
        try:
            return parse_money(row[column])
        except ValueError as exc:
            raise RowRejected(f"{self.layout.name(column)}: {exc}") from None

    def _orders_count(self, row: list[str]) -> int | None:
        column = self.layout.orders_count
        if column is None or not row[column].strip():
            return None
        text = row[column].strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > MAX_ORDERS:
            raise RowRejected(
                f"{self.layout.name(column)}: {echo(text)} is not a number of orders "
                "(a whole number, digits 0-9)"
            )
        return int(text)


def read_member_records(
    path: Path, settings: Settings, result: CustomersImportResult
) -> Iterator[MemberRecord]:
    """Stream the export's rows as ``MemberRecord``s; problems go to ``result.rejected``."""
    with open_csv(path, setting=SETTING, encoding=settings.input.encoding) as source:
        layout = customers_layout(
            source.header,
            settings.codes,
            settings.fields,
            path=str(path),
            setting=SETTING,
            require_codes=False,
        )
        reader = _RecordReader(layout, settings)
        for number, cells in source.records():
            result.rows_read += 1
            try:
                record = reader.record(number, cells, result)
            except RowRejected as rejected:
                result.rejected.append((number, rejected.reason))
                continue
            if record is None:
                result.skipped_repeated_id += 1
                continue
            yield record


def import_customers(
    db: Database, *, path: Path, settings: Settings, actor: str
) -> CustomersImportResult:
    """Upsert every usable row of the export at ``path`` (one transaction)."""
    result = CustomersImportResult()
    upserted = upsert_members_from_export(
        db, actor=actor, records=read_member_records(path, settings, result)
    )
    result.created, result.updated, result.unchanged = (
        upserted.created,
        upserted.updated,
        upserted.unchanged,
    )
    for record, reason in upserted.conflicts:
        result.rejected.append((record.source_row or 0, reason))
    result.rejected.sort()
    if result.member_since_unreadable:
        log.warning(
            "%d row(s) of %s have a %s that is not a date; member since left blank for them",
            result.member_since_unreadable,
            path,
            settings.fields.member_since_column,
        )
    if result.rejected:
        stamp = dt.datetime.now(settings.processing.zone).strftime("%Y-%m-%d-%H%M%S")
        target = settings.output.directory / f"rejects_customers_import_{stamp}.csv"
        result.rejects_file = write_rejected_rows(path, settings, result.rejected, target)
    return result


def write_rejected_rows(
    path: Path, settings: Settings, rejected: list[tuple[int, str]], target: Path
) -> Path | None:
    """Copy the rejected rows of ``path``, as read, with their reasons to ``target``.

    A second pass over the export, taken only when something was rejected, so
    the import itself never holds rows it does not need.
    """
    reasons: dict[int, list[str]] = {}
    for row, reason in rejected:
        reasons.setdefault(row, []).append(reason)
    with open_csv(path, setting=SETTING, encoding=settings.input.encoding) as source:
        rejects = RejectsFile(target, source.header, source.delimiter)
        try:
            for number, cells in source.records():
                if number in reasons:
                    rejects.write(cells, "; ".join(reasons[number]))
            return rejects.commit()
        finally:
            rejects.discard()
