"""``points earn FILE``: earn points from Shopify's orders export.

Streams the export (``files.orders_export``), applies the orders in chunks
(``services.earning.orders.apply_orders``), each chunk committed on its own
under the ``earning`` job lock (so a webhook worker and an export never apply
the same order at once), and writes rejected orders (their first row as
read, plus a ``Failure Reason``) to ``rejects_orders_<time>.csv`` in the
output folder. Re-running an export, or an overlapping one, earns nothing
twice: the order name is the key.

Pending points that have fallen due are released first, so a daily
``points earn`` keeps the balance current even without the schedule.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from memberkit.clock import utcnow
from memberkit.config import EarningSettings, Encoding
from memberkit.domain.earning import EarningRules
from memberkit.files.csv_input import open_csv
from memberkit.files.orders_export import OrderRow, UnreadableOrder, read_orders
from memberkit.files.rejects import RejectsFile
from memberkit.services.earning.orders import EarningSummary, apply_orders
from memberkit.services.earning.release import release_due
from memberkit.store.database import Database
from memberkit.store.locks import job_lock
from memberkit.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

EARNING_LOCK = "earning"
REJECTS_ORDERS_PATTERN = "rejects_orders_%s.csv"


def rules_from_settings(earning: EarningSettings) -> EarningRules:
    """The ``[earning]`` settings as ``EarningRules``."""
    return EarningRules.of(
        points_per_unit=earning.points_per_unit,
        min_subtotal=earning.min_subtotal,
        tier_multipliers=earning.tier_multipliers,
        first_order_bonus=earning.first_order_bonus,
        excluded_tags=earning.excluded_tags,
        excluded_codes=earning.excluded_codes,
        pending_days=earning.pending_days,
    )


@dataclass
class ExportEarningResult:
    """What ``points earn`` did: the summary, the rows read, and the rejects file."""

    summary: EarningSummary
    rows: int = 0
    dry_run: bool = False
    released_before: int = 0
    points_released_before: int = 0
    rejects_file: Path | None = None
    rejects: list[tuple[int, str]] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            **self.summary.to_json(),
            "rows": self.rows,
            "dry_run": self.dry_run,
            "released_before": self.released_before,
            "points_released_before": self.points_released_before,
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
        }


def earn_from_export(
    db: Database,
    *,
    path: Path,
    earning: EarningSettings,
    currency: str,
    zone: ZoneInfo,
    actor: str,
    output_dir: Path,
    encoding: Encoding = "auto",
    dry_run: bool = False,
    now: dt.datetime | None = None,
    chunk_size: int = 5000,
) -> ExportEarningResult:
    """Earn from the orders export at ``path``; see the module docstring."""
    moment = now or utcnow()
    rules = rules_from_settings(earning)
    summary = EarningSummary()
    result = ExportEarningResult(summary, dry_run=dry_run)
    stamp = moment.astimezone(zone).strftime("%Y-%m-%d-%H%M%S")
    with open_csv(path, setting="orders file", encoding=encoding) as source:
        rejects = RejectsFile(_free_name(output_dir, stamp), source.header, source.delimiter)
        try:
            with job_lock(db, EARNING_LOCK, command="points earn", what=str(path)):
                if not dry_run:
                    released = release_due(db, actor=actor, zone=zone, now=moment)
                    result.released_before = released.orders
                    result.points_released_before = released.points
                for chunk in _chunks(read_orders(source, zone), chunk_size):
                    with UnitOfWork.begin(db, actor=actor, zone=zone, now=moment) as work:
                        orders = [item.order for item in chunk if isinstance(item, OrderRow)]
                        readable = [item for item in chunk if isinstance(item, OrderRow)]
                        for item in chunk:
                            result.rows += item.rows if isinstance(item, OrderRow) else 1
                            if isinstance(item, UnreadableOrder):
                                summary.orders += 1
                                summary.rejected += 1
                                rejects.write(item.cells, item.reason)
                                result.rejects.append((item.row_number, item.reason))
                        refused = apply_orders(
                            work,
                            orders,
                            rules=rules,
                            currency=currency,
                            origin="export",
                            summary=summary,
                            dry_run=dry_run,
                        )
                        for rejection in refused:
                            row = readable[rejection.position]
                            rejects.write(row.cells, rejection.reason)
                            result.rejects.append((row.row_number, rejection.reason))
            result.rejects_file = rejects.commit()
        finally:
            rejects.discard()
    log.info(
        "points earn %s: %s",
        path,
        " ".join(f"{k}={v}" for k, v in result.to_json().items() if k != "skipped"),
    )
    return result


def _chunks(
    items: Iterator[OrderRow | UnreadableOrder], size: int
) -> Iterator[list[OrderRow | UnreadableOrder]]:
    chunk: list[OrderRow | UnreadableOrder] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _free_name(folder: Path, stamp: str) -> Path:
    """A rejects path in ``folder`` that no earlier run wrote (never overwrite an output)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (REJECTS_ORDERS_PATTERN % stamp)
    counter = 2
    while target.exists():
        target = folder / (REJECTS_ORDERS_PATTERN % f"{stamp}-{counter}")
        counter += 1
    return target
