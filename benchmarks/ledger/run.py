"""Ledger benchmark: bulk postings through the service layer vs a bare insert of the same rows.

    python benchmarks/ledger/generate.py --members 200000 --credits 1000000 --debits 1000000
    python benchmarks/ledger/run.py --credits 1000000 [--databases sqlite,postgresql]

For each database:

1. **mirror**: the members are upserted with ``upsert_members_from_export``
   (as the rewards update mirrors Shopify), then upserted again with 10% of
   their wallets changed; members/s for both passes.
2. **service**: every credit, then every debit, is posted with
   ``services.ledger.bulk.post_bulk`` (idempotency keys on, a commit every
   5,000 postings with the batch's checkpoint); entries/s for each phase.
3. **bare**: the entries, lots, debts, allocations and outbox events the service wrote are
   read back and inserted into a fresh, migrated database of the same schema
   (same indexes and constraints) with ``executemany`` (SQLite) or ``COPY``
   (PostgreSQL), timing only the inserts; the ratio service/bare is the figure.

PostgreSQL: a database ``memberkit_bench_<random>`` is created next to the
one ``--postgres-url`` (default: ``$MEMBERKIT_TEST_DATABASE_URL``) names and
dropped at the end. SQLite files go to ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import data_dir

from memberkit.domain.members import MemberRecord
from memberkit.services.ledger.bulk import BulkPosting, post_bulk
from memberkit.services.ledger.members import upsert_members_from_export
from memberkit.store.database import Database, open_database

OUT = Path(__file__).resolve().parents[1] / "out"
ZONE = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
TABLES = {
    "ledger_entries": (
        "id",
        "member_id",
        "kind",
        "points",
        "expires_on",
        "source",
        "source_ref",
        "public_note",
        "internal_note",
        "idempotency_key",
        "set_to",
        "reverses_id",
        "effective_at",
        "created_at",
        "actor",
        "batch_id",
    ),
    "lots": ("entry_id", "member_id", "points", "remaining", "expires_on", "expires_at"),
    "debts": ("entry_id", "member_id", "points", "unpaid"),
    "allocations": ("id", "lot_id", "entry_id", "points"),
    "outbox": ("id", "event_type", "member_id", "payload", "created_at", "actor", "batch_id"),
}
# Written before the timed phases (the ledger rows reference them).
UNTIMED = {
    "batches": (
        "id",
        "kind",
        "label",
        "actor",
        "state",
        "position",
        "details",
        "started_at",
        "finished_at",
    ),
}


@contextmanager
def database(kind: str, label: str, postgres_url: str | None) -> Iterator[str]:
    """A fresh, migrated database URL; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        open_database(url).dispose()
        yield url
        return
    assert postgres_url is not None
    base = make_url(postgres_url)
    name = f"memberkit_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        from memberkit.store.database import create_database_engine
        from memberkit.store.migrations import upgrade

        engine = create_database_engine(url)
        upgrade(Database(engine))
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def read_members(folder: Path, changed_every: int = 0) -> list[MemberRecord]:
    """Member records; with ``changed_every`` every n-th member gets a new wallet code."""
    records = []
    with (folder / "members.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            number = int(row["member"])
            codes = [{"code": f"WELCOME-{number}", "value": "5.00"}]
            if changed_every and number % changed_every == 0:
                codes.append({"code": f"BDAY-{number}", "value": "10.00"})
            available = json.dumps(codes)
            records.append(
                MemberRecord(
                    shopify_id=row["shopify_id"],
                    email=row["email"],
                    first_name=row["first_name"],
                    last_name=row["last_name"],
                    account_state="enabled",
                    codes_available=available,
                    codes_used="[]",
                    codes_expired="[]",
                )
            )
    return records


def read_postings(folder: Path, name: str, ids: dict[int, int], keys: bool) -> list[BulkPosting]:
    """The credits or debits file as ``BulkPosting``s (debits negative)."""
    out = []
    with (folder / f"{name}.csv").open(encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            points = int(row["points"])
            expires = row.get("expires_on") or None
            out.append(
                BulkPosting(
                    member_id=ids[int(row["member"])],
                    points=points if name == "credits" else -points,
                    source="import",
                    source_ref=f"{name}:{i}",
                    expires_on=dt.date.fromisoformat(expires) if expires else None,
                    key=f"bench:{name}:{i}" if keys else None,
                )
            )
    return out


def member_ids(db: Database) -> dict[int, int]:
    """CSV member number -> internal id (by Shopify id)."""
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT shopify_id, id FROM members").all()
    return {int(shopify) - 7_000_000: int(member) for shopify, member in rows}


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Raw driver rows of the ledger tables (values exactly as stored)."""
    db = open_database(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table, columns in {**TABLES, **UNTIMED}.items():
            order = columns[0]
            out[table] = [
                tuple(r)
                for r in conn.exec_driver_sql(
                    f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"  # noqa: S608
                )
            ]
        out["members"] = [
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT id, shopify_id, email, email_key, points_balance, points_debt, "
                "codes_available, codes_used, codes_expired, created_at, updated_at "
                "FROM members ORDER BY id"
            )
        ]
    db.dispose()
    return out


MEMBER_COLUMNS = (
    "id",
    "shopify_id",
    "email",
    "email_key",
    "points_balance",
    "points_debt",
    "codes_available",
    "codes_used",
    "codes_expired",
    "created_at",
    "updated_at",
)


def _columns(table: str) -> tuple[str, ...]:
    if table == "members":
        return MEMBER_COLUMNS
    return {**TABLES, **UNTIMED}[table]


def phase_rows(
    rows: dict[str, list[tuple[Any, ...]]], kind: str
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows one phase wrote: credits -> their entries and lots; debits -> entries,
    debts and allocations."""
    entries = [r for r in rows["ledger_entries"] if r[2] == kind]
    # Each entry's outbox event is part of what the service writes for it.
    event = "points/added" if kind == "credit" else "points/deducted"
    events = [r for r in rows.get("outbox", []) if r[1] == event]
    if kind == "credit":
        return {"ledger_entries": entries, "lots": rows["lots"], "outbox": events}
    ids = {r[0] for r in entries}
    return {
        "ledger_entries": entries,
        "debts": [r for r in rows["debts"] if r[0] in ids],
        "allocations": [r for r in rows["allocations"] if r[2] in ids],
        "outbox": events,
    }


def bare_sqlite(url: str, phases: list[dict[str, list[tuple[Any, ...]]]]) -> list[float]:
    """executemany of each phase's rows, one transaction per phase; seconds per phase."""
    path = make_url(url).database
    assert path
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    times = []
    for tables in phases:
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table, data in tables.items():
            columns = _columns(table)
            marks = ", ".join("?" * len(columns))
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                data,
            )
        conn.execute("COMMIT")
        times.append(time.perf_counter() - started)
    conn.close()
    return times


def bare_postgres(url: str, phases: list[dict[str, list[tuple[Any, ...]]]]) -> list[float]:
    """COPY of each phase's rows, one transaction per phase; seconds per phase."""
    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    times = []
    with psycopg.connect(dsn) as conn:
        for tables in phases:
            started = time.perf_counter()
            with conn.cursor() as cur:
                for table, data in tables.items():
                    columns = _columns(table)
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in data:
                            copy.write_row(row)
            conn.commit()
            times.append(time.perf_counter() - started)
    return times


def run_one(
    kind: str,
    folder: Path,
    size: int,
    keys: bool,
    postgres_url: str | None,
    chunk_size: int = 5000,
) -> dict[str, Any]:
    """Mirror, service and bare measurements on one database."""
    result: dict[str, Any] = {"database": kind}
    with database(kind, f"ledger-service-{size}", postgres_url) as url:
        db = open_database(url)
        members = read_members(folder)
        started = time.perf_counter()
        upsert_members_from_export(db, actor="system:benchmark", records=members, now=NOW)
        result["mirror_create_s"] = time.perf_counter() - started
        changed = read_members(folder, changed_every=10)
        started = time.perf_counter()
        upserted = upsert_members_from_export(
            db, actor="system:benchmark", records=changed, now=NOW
        )
        result["mirror_update_s"] = time.perf_counter() - started
        result["members"] = len(members)
        result["mirror_updated"] = upserted.updated
        ids = member_ids(db)
        for name in ("credits", "debits"):
            postings = read_postings(folder, name, ids, keys)
            started = time.perf_counter()
            outcome = post_bulk(
                db,
                actor="system:benchmark",
                postings=postings,
                zone=ZONE,
                now=NOW,
                chunk_size=chunk_size,
            )
            result[f"{name}_s"] = time.perf_counter() - started
            result[f"{name}"] = outcome.posted
            print(
                f"  {kind} service {name}: {outcome.posted} in {result[f'{name}_s']:.1f}s",
                flush=True,
            )
        db.dispose()
        rows = dump(url)
    result["rows"] = {table: len(data) for table, data in rows.items()}
    with database(kind, f"ledger-bare-{size}", postgres_url) as url:
        # Members first (untimed): the ledger rows reference them.
        untimed = [{"members": rows["members"], "batches": rows["batches"]}]
        insert = bare_sqlite if kind == "sqlite" else bare_postgres
        insert(url, untimed)
        credit_s, debit_s = insert(url, [phase_rows(rows, "credit"), phase_rows(rows, "debit")])
    result["bare_credits_s"] = credit_s
    result["bare_debits_s"] = debit_s
    return result


def report(results: list[dict[str, Any]], size_note: str) -> str:
    """Markdown lines for benchmarks/README.md."""
    lines = [
        size_note,
        "",
        "| database | phase | entries | service entries/s | bare entries/s | ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for phase in ("credits", "debits"):
            n = r[phase]
            service, bare = r[f"{phase}_s"], r[f"bare_{phase}_s"]
            lines.append(
                f"| {r['database']} | {phase} | {n:,} | {n / service:,.0f} | "
                f"{n / bare:,.0f} | {service / bare:.2f}x |"
            )
        total_service = r["credits_s"] + r["debits_s"]
        total_bare = r["bare_credits_s"] + r["bare_debits_s"]
        lines.append(
            f"| {r['database']} | both | {r['credits'] + r['debits']:,} | "
            f"{(r['credits'] + r['debits']) / total_service:,.0f} | "
            f"{(r['credits'] + r['debits']) / total_bare:,.0f} | "
            f"{total_service / total_bare:.2f}x |"
        )
    lines += [
        "",
        "| database | mirror pass | members | seconds | members/s |",
        "|---|---|---:|---:|---:|",
    ]
    for r in results:
        for label, key in (("create all", "mirror_create_s"), ("10% changed", "mirror_update_s")):
            lines.append(
                f"| {r['database']} | {label} | {r['members']:,} | {r[key]:.1f} | "
                f"{r['members'] / r[key]:,.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--credits", type=int, default=1_000_000, help="which generated size")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--no-keys", action="store_true", help="post without idempotency keys")
    parser.add_argument("--chunk-size", type=int, default=5000, help="postings per commit")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MEMBERKIT_TEST_DATABASE_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    )
    args = parser.parse_args()
    folder = data_dir(args.credits)
    if not (folder / "credits.csv").exists():
        raise SystemExit(f"no data in {folder}: run benchmarks/ledger/generate.py first")
    results = []
    for kind in args.databases.split(","):
        print(f"{kind}...", flush=True)
        results.append(
            run_one(
                kind, folder, args.credits, not args.no_keys, args.postgres_url, args.chunk_size
            )
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"ledger-{args.credits}.json").write_text(json.dumps(results, indent=2))
    with (folder / "members.csv").open(encoding="utf-8") as fh:
        members = sum(1 for _ in fh) - 1
    note = (
        f"{args.credits:,} credits and {results[0]['debits']:,} debits for {members:,} members, "
        f"idempotency keys {'off' if args.no_keys else 'on'}."
    )
    print(report(results, note))


if __name__ == "__main__":
    main()
