"""``customers import``: upsert members from a Matrixify or Shopify customers export.

Uses the rewards update's readers (``files.csv_input`` for encodings and
delimiters, ``files.customers_export`` for the columns), so a file the update
accepts imports the same way. Each data row becomes a ``MemberRecord``: Shopify
id, email, the account state and member-since columns, and the three code
metafields as compact JSON. Rows that cannot be used (bad id, malformed code
JSON, an email already held by another member) are skipped and reported with
their row number, and written as read, plus a ``Failure Reason``, to
``rejects_customers_import_<timestamp>.csv`` in ``output.directory``, so
nothing is lost; a repeated ID keeps its first row, as in the update.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memberkit.config import Settings
from memberkit.domain.codes import CodeListError, dump_compact, parse_code_objects
from memberkit.domain.customers import CustomerIdError, customer_id
from memberkit.domain.dates import leading_date
from memberkit.domain.members import MemberRecord
from memberkit.files.csv_input import open_csv
from memberkit.files.customers_export import CustomersLayout, customers_layout
from memberkit.files.rejects import RejectsFile
from memberkit.services.ledger.members import upsert_members_from_export
from memberkit.store.database import Database

SETTING = "customers import FILE"


@dataclass
class CustomersImportResult:
    """What an import did, and the rows it skipped as (row number, reason)."""

    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_repeated_id: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rejects_file: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = dict(self.__dict__)
        data["rejected"] = [{"row": row, "reason": reason} for row, reason in self.rejected]
        data["rejects_file"] = str(self.rejects_file) if self.rejects_file else None
        return data


def _codes(layout: CustomersLayout, column: int | None, cells: list[str]) -> str | None:
    if column is None:
        return None
    cell = cells[column] if column < len(cells) else ""
    try:
        return dump_compact(parse_code_objects(cell))
    except CodeListError as exc:
        raise ValueError(f"column {layout.name(column)!r}: {exc}") from None


def read_member_records(
    path: Path, settings: Settings, result: CustomersImportResult
) -> Iterator[MemberRecord]:
    """Stream the export's rows as ``MemberRecord``s; problems go to ``result.rejected``."""
    with open_csv(path, setting=SETTING, encoding=settings.input.encoding) as source:
        layout = customers_layout(source.header, settings.codes, settings.fields, path=str(path))
        seen: set[str] = set()
        for number, cells in source.records():
            result.rows_read += 1
            try:
                cells = cells + [""] * (len(layout.header) - len(cells))
                shopify_id = customer_id(cells[layout.id])
                if shopify_id in seen:
                    result.skipped_repeated_id += 1
                    continue
                seen.add(shopify_id)
                email = cells[layout.email].strip() or None
                state = (
                    cells[layout.account_state].strip() or None
                    if layout.account_state is not None
                    else None
                )
                since_text = (
                    leading_date(cells[layout.member_since])
                    if layout.member_since is not None
                    else ""
                )
                record = MemberRecord(
                    shopify_id=shopify_id,
                    email=email,
                    account_state=state,
                    member_since=dt.date.fromisoformat(since_text) if since_text else None,
                    codes_available=_codes(layout, layout.available, cells),
                    codes_used=_codes(layout, layout.used, cells),
                    codes_expired=_codes(layout, layout.expired, cells),
                    source_row=number,
                )
            except CustomerIdError as exc:
                result.rejected.append((number, f"column {layout.name(layout.id)!r} {exc}"))
                continue
            except ValueError as exc:
                result.rejected.append((number, str(exc)))
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
        rejects = RejectsFile(target, source.header)
        try:
            for number, cells in source.records():
                if number in reasons:
                    rejects.write(cells, "; ".join(reasons[number]))
            return rejects.commit()
        finally:
            rejects.discard()
