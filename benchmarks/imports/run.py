"""The imports benchmark: a points-add import of N rows for N members, beside a bare insert.

For each database (SQLite file, PostgreSQL database made for the run and dropped
after), each phase in a child process of its own, so its peak memory
(``ru_maxrss``) is its own:

1. **setup** (not timed): N members inserted by the driver (``executemany`` / ``COPY``);
2. **validate**: ``create_import`` of the CSV: copy into storage, hash, check every
   row (the ``--validate-only`` path);
3. **apply**: ``apply_import``: every row through ``post_bulk`` (member lookup, ledger
   entry, lot, outbox event, balance), import checkpoints, results file;
4. **bare**: into a fresh database with the same schema and the same members, the
   same number of ledger rows (entries with the same columns the import writes)
   by ``sqlite3.executemany`` / psycopg ``COPY``, one transaction: the floor;
5. **xlsx**: the validation of the same rows as an XLSX workbook, and the first
   sheet read alone with python-calamine and with openpyxl (read-only mode).

    .venv/bin/python benchmarks/imports/generate.py --rows 1000000
    .venv/bin/python benchmarks/imports/run.py --rows 1000000 [--databases sqlite]

Results go to ``benchmarks/out/imports-<rows>.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from benchmarks.imports.generate import folder_for  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from memberkit.store.database import Database, create_database_engine, open_database  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
NOW = dt.datetime(2026, 12, 2, 9, 0)
MEMBER_COLUMNS = (
    "id",
    "shopify_id",
    "email",
    "email_key",
    "points_balance",
    "points_debt",
    "ledger_version",
    "codes_available",
    "codes_used",
    "codes_expired",
    "created_at",
    "updated_at",
)
ENTRY_COLUMNS = (
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
)


def peak_mb() -> float:
    """This process's peak resident memory (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def database(kind: str, postgres_url: str | None) -> Iterator[str]:
    """A fresh, migrated database URL; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"imports-bench-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        open_database(url).dispose()
        try:
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    assert postgres_url is not None
    base = make_url(postgres_url)
    name = f"memberkit_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        from memberkit.store.migrations import upgrade

        engine = create_database_engine(url)
        upgrade(Database(engine))
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _insert(url: str, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> float:
    """Driver-level insert of ``rows`` in one transaction; seconds taken."""
    started = time.perf_counter()
    if url.startswith("sqlite"):
        path = make_url(url).database
        assert path
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN IMMEDIATE")
        marks = ", ".join("?" * len(columns))
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            rows,
        )
        conn.execute("COMMIT")
        conn.close()
    else:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
    return time.perf_counter() - started


def member_rows(rows: int, sqlite: bool) -> list[tuple[Any, ...]]:
    stamp: Any = NOW.isoformat(sep=" ") if sqlite else NOW
    return [
        (
            i,
            str(7_000_000_000 + i),
            f"m{i}@example.com",
            f"m{i}@example.com",
            0,
            0,
            0,
            "[]",
            "[]",
            "[]",
            stamp,
            stamp,
        )
        for i in range(1, rows + 1)
    ]


def entry_rows(rows: int, sqlite: bool) -> list[tuple[Any, ...]]:
    stamp: Any = NOW.isoformat(sep=" ") if sqlite else NOW
    return [
        (
            i,
            i,
            "credit",
            (i % 500) + 1,
            None,
            "point_import",
            f"import 1 row {i + 1}",
            "Autumn VIP bonus" if i % 3 == 0 else None,
            None,
            f"import:1:{i + 1}",
            None,
            None,
            stamp,
            stamp,
            "cli:bench",
            None,
        )
        for i in range(1, rows + 1)
    ]


def settings_for(url: str, store: Path) -> Any:
    from memberkit.config import load_settings

    store.mkdir(parents=True, exist_ok=True)
    config = store / "memberkit.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return load_settings(config)


# --- phases (each in a child process) ---------------------------------------------------


def phase(name: str, url: str, rows: int, store: Path, extra: str) -> dict[str, Any]:
    started = time.perf_counter()
    out: dict[str, Any] = {}
    if name == "setup":
        out["seconds"] = _insert(
            url, "members", MEMBER_COLUMNS, member_rows(rows, url.startswith("sqlite"))
        )
    elif name in ("validate", "validate-xlsx"):
        from memberkit.services.imports import ImportOptions, create_import

        settings = settings_for(url, store)
        db = open_database(url)
        source = folder_for(rows) / (
            "points-add.xlsx" if name == "validate-xlsx" else "points-add.csv"
        )
        record = create_import(
            db,
            settings,
            kind="points-add",
            source=source,
            original_name=source.name,
            options=ImportOptions(allow_duplicate=True),
            actor="cli:bench",
        )
        assert record.status == "ready", record
        out["import_id"] = record.id
        out["seconds"] = time.perf_counter() - started
    elif name == "apply":
        from memberkit.services.imports import apply_import

        settings = settings_for(url, store)
        db = open_database(url)
        record = apply_import(db, settings, int(extra), actor="cli:bench")
        assert record.status == "completed" and record.failed == 0, record
        out["seconds"] = time.perf_counter() - started
        out["results_file_mb"] = (
            (record.results_file.stat().st_size / 1e6) if record.results_file else 0
        )
    elif name == "bare":
        sqlite = url.startswith("sqlite")
        _insert(url, "members", MEMBER_COLUMNS, member_rows(rows, sqlite))
        data = entry_rows(rows, sqlite)
        out["seconds"] = _insert(url, "ledger_entries", ENTRY_COLUMNS, data)
    elif name in ("read-calamine", "read-openpyxl"):
        from memberkit.files.xlsx_input import xlsx_rows

        count = sum(
            1
            for _ in xlsx_rows(
                folder_for(rows) / "points-add.xlsx", setting="bench", reader=name.split("-")[1]
            )
        )
        assert count == rows + 1
        out["seconds"] = time.perf_counter() - started
    out["peak_mb"] = round(peak_mb(), 1)
    return out


def child(name: str, url: str, rows: int, store: Path, extra: str = "") -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", name, "--url", url, "--rows", str(rows)]
    command += ["--store", str(store), "--extra", extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERKIT_")}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {name}: {result}", file=sys.stderr)
    return result


def run_database(kind: str, rows: int, postgres_url: str | None, xlsx: bool) -> dict[str, Any]:
    print(f"{kind}:", file=sys.stderr)
    out: dict[str, Any] = {"database": kind, "rows": rows}
    with database(kind, postgres_url) as url:
        store = OUT / f"imports-store-{uuid.uuid4().hex[:8]}"
        child("setup", url, rows, store)
        validated = child("validate", url, rows, store)
        out["validate"] = validated
        out["apply"] = child("apply", url, rows, store, str(validated["import_id"]))
        out["whole_seconds"] = validated["seconds"] + out["apply"]["seconds"]
        if xlsx:
            out["validate_xlsx"] = child("validate-xlsx", url, rows, store)
    with database(kind, postgres_url) as url:
        out["bare"] = child("bare", url, rows, OUT)
    out["ratio"] = out["whole_seconds"] / out["bare"]["seconds"]
    return out


def report(results: list[dict[str, Any]], readers: dict[str, Any]) -> str:
    lines = [
        "| database | rows | validate s | apply s | whole import s | bare insert s | ratio | "
        "XLSX validate s | peak MB (validate / apply / xlsx) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        xlsx = r.get("validate_xlsx", {})
        lines.append(
            f"| {r['database']} | {r['rows']:,} | {r['validate']['seconds']:.1f} | "
            f"{r['apply']['seconds']:.1f} | {r['whole_seconds']:.1f} | "
            f"{r['bare']['seconds']:.1f} | {r['ratio']:.1f}x | "
            f"{xlsx.get('seconds', float('nan')):.1f} | "
            f"{r['validate']['peak_mb']:.0f} / {r['apply']['peak_mb']:.0f} / "
            f"{xlsx.get('peak_mb', float('nan')):.0f} |"
        )
    if readers:
        lines += ["", "| XLSX reader | seconds | peak MB |", "|---|---:|---:|"]
        for name, r in readers.items():
            lines.append(f"| {name} | {r['seconds']:.1f} | {r['peak_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("MEMBERKIT_TEST_DATABASE_URL", "").strip() or None
    )
    parser.add_argument("--no-xlsx", action="store_true")
    parser.add_argument("--phase")
    parser.add_argument("--url")
    parser.add_argument("--store", type=Path)
    parser.add_argument("--extra", default="")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.url, args.rows, args.store, args.extra)))
        return
    if not (folder_for(args.rows) / "points-add.csv").is_file():
        raise SystemExit(f"run benchmarks/imports/generate.py --rows {args.rows} first")
    xlsx = not args.no_xlsx and (folder_for(args.rows) / "points-add.xlsx").is_file()
    results = []
    for kind in args.databases.split(","):
        if kind == "postgresql" and not args.postgres_url:
            print("postgresql skipped: no --postgres-url", file=sys.stderr)
            continue
        results.append(run_database(kind, args.rows, args.postgres_url, xlsx))
    readers = {}
    if xlsx:
        for name in ("read-calamine", "read-openpyxl"):
            readers[name.removeprefix("read-")] = child(name, "", args.rows, OUT)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"imports-{args.rows}.json").write_text(
        json.dumps({"results": results, "readers": readers, "load": os.getloadavg()}, indent=2)
    )
    print(report(results, readers))


if __name__ == "__main__":
    main()
