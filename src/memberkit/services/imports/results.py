"""The results file of an applied import: one line per row, ``Success`` or ``Failed - reason``.

``Point_Import_Results_{YYYY-MM-DD_HHMMSS}.csv`` with ``Customer Email``, the
kind's value column (``Points Added``, ``Points Deducted``, ``Points``,
``Tier`` or ``Profile``), ``Transaction Description``, ``Results`` and
``Timestamp`` (the time the apply that wrote the row started: the first run,
or the resume that got to it). Written streaming, after the last chunk
committed, from the stored original and the failed rows recorded with each
chunk, so a resumed import's file is the same as an uninterrupted one's (but
for the timestamps). Rows named by Customer ID get their member's email from
the database, one query per chunk. Through the formula-safe writer.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from memberkit.domain.imports import ImportRow
from memberkit.files.csv_output import CsvOutput
from memberkit.services.imports.records import ImportRecord
from memberkit.services.imports.validate import CheckSettings, read_rows
from memberkit.store.bulk import among, chunked
from memberkit.store.database import Database
from memberkit.store.models import Member

_VALUE_COLUMN = {
    "points-add": "Points Added",
    "points-deduct": "Points Deducted",
    "points-adjust": "Points",
    "points-set": "Points",
    "tiers": "Tier",
    "profiles": "Profile",
}
_CHUNK = 5000


def results_header(kind: str) -> list[str]:
    """The results file's columns for ``kind``."""
    return [
        "Customer Email",
        _VALUE_COLUMN[kind],
        "Transaction Description",
        "Results",
        "Timestamp",
    ]


def _value(kind: str, row: ImportRow) -> str:
    if kind == "tiers":
        return row.tier or ""
    if kind == "profiles":
        parts = []
        if row.birthday is not None:
            parts.append(f"birthday {row.birthday.isoformat()}")
        if row.gender is not None:
            parts.append(f"gender {row.gender}")
        return "; ".join(parts)
    return "" if row.points is None else str(row.points)


def _emails(db: Database, ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if not ids:
        return out
    with db.read() as session:
        for part in chunked(sorted(set(ids))):
            for shopify_id, email in session.execute(
                select(Member.shopify_id, Member.email).where(
                    among(Member.shopify_id, part, postgresql=db.is_postgresql)
                )
            ):
                if email and shopify_id:
                    out[str(shopify_id)] = str(email)
    return out


def write_results_file(
    db: Database,
    record: ImportRecord,
    target: Path,
    *,
    failures: dict[int, str],
    runs: Sequence[tuple[int, dt.datetime]],
    zone: ZoneInfo,
    check: CheckSettings,
) -> int:
    """Write the results file to ``target``; returns the number of rows it has."""
    starts = [p for p, _ in runs] or [0]
    stamps = [f"{t.astimezone(zone):%Y-%m-%d %H:%M:%S}" for _, t in runs] or [""]
    kind = record.kind
    output = CsvOutput(target, results_header(kind))
    rows = read_rows(
        record.original_file, kind=kind, original_name=record.original_name, check=check
    )
    position = 0
    try:
        while True:
            chunk = list(islice(rows, _CHUNK))
            if not chunk:
                break
            emails = _emails(
                db,
                [
                    r.customer_id
                    for _, r in chunk
                    if isinstance(r, ImportRow) and r.email is None and r.customer_id
                ],
            )
            for number, row in chunk:
                stamp = stamps[max(0, bisect.bisect_right(starts, position) - 1)]
                position += 1
                reason = failures.get(number)
                result = "Success" if reason is None else f"Failed - {reason}"
                if isinstance(row, list):
                    output.write(["", "", "", result, stamp])
                    continue
                email = row.email or emails.get(row.customer_id or "", "")
                description = row.description or row.public_note or record.options.note or ""
                output.write([email, _value(kind, row), description, result, stamp])
        output.commit()
    except BaseException:
        output.discard()
        raise
    return position
