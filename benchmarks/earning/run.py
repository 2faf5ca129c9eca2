"""Earning benchmark: ``points earn`` on a 7-day orders export vs the bare read of that export.

    python benchmarks/earning/generate.py --orders 500000 --members 100000
    python benchmarks/earning/run.py --orders 500000 [--databases sqlite,postgresql]

1. **bare read**: the export is read with ``files.orders_export.read_orders``
   (the same CSV reader, encodings and grouping of line items into orders) and
   nothing else: the floor any earning run pays.
2. **earn (pending)**: ``services.earning.export.earn_from_export`` with the default
   14-day pending period: every order evaluated, members looked up, an
   ``order_earnings`` row written per earning order, rejects written.
3. **earn again**: the same export once more (every order already earned).
4. **release**: the pending points released into the ledger (one credit per order).
5. **earn (pending_days = 0)** on a fresh database: earning and crediting in one pass.

PostgreSQL: a database ``memberkit_bench_<random>`` is created next to the one
``--postgres-url`` (default ``$MEMBERKIT_TEST_DATABASE_URL``) names and dropped at
the end. SQLite files go to ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import data_dir

from memberkit.config import EarningSettings
from memberkit.domain.members import MemberRecord
from memberkit.files.csv_input import open_csv
from memberkit.files.orders_export import read_orders
from memberkit.services.earning.export import earn_from_export
from memberkit.services.earning.release import release_due
from memberkit.services.ledger.members import upsert_members_from_export
from memberkit.store.database import Database, create_database_engine, open_database
from memberkit.store.migrations import upgrade

OUT = Path(__file__).resolve().parents[1] / "out"
ZONE = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
ACTOR = "bench:earning"


@contextmanager
def database(kind: str, postgres_url: str | None, label: str) -> Iterator[Database]:
    if kind == "sqlite":
        path = OUT / f"earning-{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = open_database(f"sqlite:///{path}")
        try:
            yield db
        finally:
            db.dispose()
        return
    assert postgres_url, "--postgres-url or MEMBERKIT_TEST_DATABASE_URL is needed"
    base = make_url(postgres_url)
    name = f"memberkit_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = create_database_engine(url)
    upgrade(Database(engine))
    engine.dispose()
    db = open_database(url)
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def load_members(db: Database, folder: Path) -> None:
    with (folder / "members.csv").open(encoding="utf-8", newline="") as fh:
        emails = [row["email"] for row in csv.DictReader(fh)]
    records = (
        MemberRecord(shopify_id=str(i + 1), email=e, source_row=i + 2) for i, e in enumerate(emails)
    )
    upsert_members_from_export(db, actor=ACTOR, records=records)


def bare_read(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    count = 0
    with open_csv(path, setting="orders file", encoding="auto") as source:
        for _ in read_orders(source, ZONE):
            count += 1
    return time.perf_counter() - started, count


def earn(db: Database, path: Path, pending_days: int) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    result = earn_from_export(
        db,
        path=path,
        earning=EarningSettings(pending_days=pending_days),
        currency="GBP",
        zone=ZONE,
        actor=ACTOR,
        output_dir=OUT / "earning-rejects",
        now=NOW,
    )
    return time.perf_counter() - started, result.to_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=500_000)
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get("MEMBERKIT_TEST_DATABASE_URL"))
    args = parser.parse_args()
    folder = data_dir(args.orders)
    path = folder / "orders.csv"
    read_s, orders = bare_read(path)
    print(f"bare read: {orders:,} orders in {read_s:.1f} s ({orders / read_s:,.0f} orders/s)")
    report: dict[str, object] = {"orders": orders, "bare_read_s": round(read_s, 2)}
    for kind in args.databases.split(","):
        with database(kind, args.postgres_url, f"{kind}-{args.orders}") as db:
            load_members(db, folder)
            first_s, first = earn(db, path, 14)
            again_s, again = earn(db, path, 14)
            started = time.perf_counter()
            released = release_due(db, zone=ZONE, now=NOW + dt.timedelta(days=30))
            release_s = time.perf_counter() - started
        with database(kind, args.postgres_url, f"{kind}-{args.orders}-now") as db:
            load_members(db, folder)
            now_s, now = earn(db, path, 0)
        figures = {
            "earn_pending_s": round(first_s, 2),
            "earn_again_s": round(again_s, 2),
            "release_s": round(release_s, 2),
            "released_orders": released.orders,
            "earn_and_credit_s": round(now_s, 2),
            "ratio_earn_pending": round(first_s / read_s, 2),
            "ratio_earn_again": round(again_s / read_s, 2),
            "ratio_earn_and_credit": round(now_s / read_s, 2),
            "summary": {k: first[k] for k in ("earned", "skipped", "rejected", "points_earned")},
            "summary_now": {k: now[k] for k in ("earned", "points_released")},
            "summary_again": {k: again[k] for k in ("already_earned", "earned")},
        }
        report[kind] = figures
        print(kind, json.dumps(figures, indent=2))
    (OUT / f"earning-{args.orders}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
