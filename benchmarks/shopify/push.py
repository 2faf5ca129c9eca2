"""Benchmark: ``memberkit shopify push`` of N members through the bulk-mutation path.

    .venv/bin/python benchmarks/shopify/push.py --members 500000 [--latency 0.1]
        [--lines-per-second 5000] [--queued-seconds 0.05] [--database-url URL]
        [--server-processing background|lazy]

What is measured: ``memberkit.services.shopify.push.push``, the function the CLI
command calls, with the default configuration (``shopify.bulk_threshold`` 200, so
N > 200 goes through one or more bulk mutations; ``poll_seconds`` 1.0), timed
from opening the database and making the client from settings
(``client_from_settings``, as the CLI does) to the report: reading the members,
building one ``metafieldsSet`` line per member, the staged upload(s),
``bulkOperationRunMutation``, polling, downloading and reading the result file.
Process start-up and imports are not counted.

Setup (not timed): a fresh SQLite file ``benchmarks/out/shopify-push-<N>.db``
(or ``--database-url``: a migrated, empty database) with N members inserted at
driver speed (``store.bulk.insert_rows``): Shopify ids 1..N, varied balances,
three tiers held by 60% of members, code wallets shaped like the rewards
generator's (60% hold 1-6 codes, some used / expired lists). The local Shopify
(``tests/servers/shopify_server.FakeShopify``, in this process) runs with
Shopify's standard cost bucket (2,000 points, 100 a second), its 100 MB upload
limit, ``--latency`` seconds on every POST, and its bulk-operation knobs:
``--queued-seconds`` in CREATED, then ``--lines-per-second`` lines RUNNING.
The server runs an operation's lines only when something calls its ``advance()``;
by default (``--server-processing background``) a server thread calls it every
20 ms, so the operation runs while the client sleeps, as on Shopify. With
``lazy`` the lines run inside the client's poll requests (the server unmodified):
their CPU time then lands serially in the wall time and the minimum is out of
reach for any client, so that figure measures the local server as much as the push.

The result only counts when it is verified: every member's metafields (four,
five with a tier) are in the server's store with the values and types the
database holds, the report says N pushed and none failed, no ``metafieldsSet``
call was made and the server logged no internal error. Otherwise the run is
marked NOT VERIFIED and exits 1.

The server's own minimum, from its knobs (a lower bound for any client)::

    files    = ceil(JSONL bytes the server received / max_upload_bytes)
    minimum  = files x (3 x latency + queued_seconds)   # stagedUploadsCreate, upload
             + N / lines_per_second                     #   POST, bulkOperationRunMutation;
             + max(0, cost - bucket) / restore_rate     # CREATED; lines RUNNING; bucket
    ratio    = wall / minimum

(``cost``: the points of ``files`` x (stagedUploadsCreate + bulkOperationRunMutation
+ one poll); the bucket never binds here. The poll that sees COMPLETED can be
sent ``latency`` before completion, so it adds nothing; the result GET has no
latency knob; transfers on the loopback are not modelled.) Beside it the run
reports where the time went: before the first request (database read, building
the lines), each operation's created / modelled / actual / seen completion, the
server lag (completion after the modelled moment: the server's CPU could not keep
its rate), the poll lag (COMPLETED seen after it happened: the polling schedule),
the tail (download, parsing the results, the report) and the server's CPU time
running the lines. Peak RSS is this process's, the local server's data included.

Results go to ``benchmarks/out/shopify-push-<N>.json`` (``-lazy.json`` with ``lazy``) and a
Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from tests.servers.shopify_model import gid  # noqa: E402
from tests.servers.shopify_server import FakeShopify  # noqa: E402

from memberkit.config import Settings, load_settings  # noqa: E402
from memberkit.integrations.shopify import TOKEN_VARIABLE, ShopifyError  # noqa: E402
from memberkit.integrations.shopify.client import client_from_settings  # noqa: E402
from memberkit.services.shopify.push import PushReport, push  # noqa: E402
from memberkit.store.bulk import insert_rows  # noqa: E402
from memberkit.store.database import Database, open_database  # noqa: E402
from memberkit.store.models import Member, Tier  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
SHOP = "bench.myshopify.com"
TOKEN = "shpat_bench_token_0123456789"
TIERS = ("Bronze", "Silver", "Gold")
CHUNK = 50_000
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class TimedShopify(FakeShopify):
    """The local Shopify, with the time it spends running bulk lines (``advance``) counted.

    ``background()`` runs due lines every ``tick`` seconds in a thread of their own, as
    Shopify runs an operation whatever the client does; without it the server runs
    them only when asked (a poll or the result file), inside that request.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.advance_seconds = 0.0
        self.advance_longest = 0.0

    @contextmanager
    def background(self, tick: float = 0.02) -> Iterator[None]:
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(tick):
                self.advance()

        worker = threading.Thread(target=run, name="shopify-bulk", daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join()

    def advance(self) -> None:
        started = time.perf_counter()
        super().advance()
        spent = time.perf_counter() - started
        with self.lock:
            self.advance_seconds += spent
            self.advance_longest = max(self.advance_longest, spent)


def peak_mb() -> float:
    """This process's peak resident memory (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _code(rng: random.Random, prefix: str) -> dict[str, str]:
    body = "".join(rng.choice(_ALPHABET) for _ in range(8))
    value = rng.choice(("5.00", "10.00", "15.00", "20.00"))
    return {
        "code": f"{prefix}-{body[:4]}-{body[4:]}",
        "value": value,
        "min_spend": f"{float(value) * 5:.2f}",
        "expires": f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }


def _codes(rng: random.Random, count: int, prefix: str) -> str:
    return json.dumps([_code(rng, prefix) for _ in range(count)], separators=(",", ":"))


def member_row(n: int, rng: random.Random) -> dict[str, Any]:
    """Member ``n`` (Shopify id ``n``): a balance, maybe a tier, a wallet like the generator's."""
    holder = rng.random() < 0.6
    available = _codes(rng, rng.randint(1, 6), "DIV") if holder else "[]"
    used = _codes(rng, rng.randint(1, 3), "USD") if holder and rng.random() < 0.3 else "[]"
    expired = _codes(rng, rng.randint(1, 2), "EXP") if holder and rng.random() < 0.15 else "[]"
    tier = rng.random()
    return {
        "id": n,
        "shopify_id": str(n),
        "email": f"member{n}@example.com",
        "email_key": f"member{n}@example.com",
        "tier_id": None if tier < 0.4 else 1 if tier < 0.75 else 2 if tier < 0.93 else 3,
        "points_balance": rng.randint(0, 25_000),
        "points_debt": 0,
        "ledger_version": 1,
        "codes_available": available,
        "codes_used": used,
        "codes_expired": expired,
        "created_at": NOW,
        "updated_at": NOW,
    }


def generate(db: Database, members: int, seed: int) -> None:
    """Three tiers and ``members`` members, inserted at driver speed."""
    with db.read() as session:
        existing = session.execute(select(func.count()).select_from(Member)).scalar_one()
    if existing:
        sys.exit(f"the database already holds {existing:,} members: give an empty one")
    rng = random.Random(seed)
    tiers = [
        {"id": rank, "name": name, "rank": rank, "threshold": rank * 5000, "created_at": NOW}
        for rank, name in enumerate(TIERS, start=1)
    ]
    with db.write() as session:
        insert_rows(session, Tier.__table__, tiers)  # type: ignore[arg-type]
    for start in range(1, members + 1, CHUNK):
        rows = [member_row(n, rng) for n in range(start, min(members, start + CHUNK - 1) + 1)]
        with db.write() as session:
            insert_rows(session, Member.__table__, rows)  # type: ignore[arg-type]


def settings_for(folder: Path, members: int, url: str, shop_url: str) -> Settings:
    """The default configuration, with the database and the local Shopify (a config file)."""
    config = folder / f"shopify-push-{members}.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[shopify]\nshop = "{SHOP}"\nbase_url = "{shop_url}"\n',
        encoding="utf-8",
    )
    # The token as the CLI reads it (this process's environment only).
    os.environ[TOKEN_VARIABLE] = TOKEN
    return load_settings(config, environ={})


def verify(db: Database, settings: Settings, fake: FakeShopify, report: PushReport | None) -> dict:
    """Compare what the server stored with what the database holds, member by member."""
    codes = settings.codes
    namespace = codes.namespace
    codes_type = codes.metafield_type or "json"
    query = (
        select(
            Member.shopify_id,
            Member.codes_available,
            Member.codes_used,
            Member.codes_expired,
            Member.points_balance,
            Tier.name,
        )
        .outerjoin(Tier, Tier.id == Member.tier_id)
        .where(Member.shopify_id.is_not(None))
    )
    with db.read() as session:
        rows = session.execute(query).all()
    stored = fake.metafields
    expected = 0
    wrong = 0
    members_complete = 0
    for shopify_id, available, used, expired, balance, tier in rows:
        owner = gid("Customer", shopify_id)
        wanted = [
            (codes.available_key, available, codes_type),
            (codes.used_key, used, codes_type),
            (codes.expired_key, expired, codes_type),
            (settings.shopify.points_key, str(balance), "number_integer"),
        ]
        if tier:
            wanted.append((settings.shopify.tier_key, tier, "single_line_text_field"))
        expected += len(wanted)
        bad = 0
        for key, value, kind in wanted:
            record = stored.get((owner, namespace, key))
            if record is None or record["value"] != value or record["type"] != kind:
                bad += 1
        wrong += bad
        members_complete += bad == 0
    checks = {
        "members_in_database": len(rows),
        "members_complete_in_shopify": members_complete,
        "metafields_expected": expected,
        "metafields_stored": len(stored),
        "metafields_missing_or_wrong": wrong,
        "report_pushed": report.pushed if report else 0,
        "report_failed": len(report.failed) if report else None,
        "metafields_set_calls": len(fake.requests_for("metafieldsSet")),
        "server_internal_errors": len(fake.internal_errors),
    }
    checks["verified"] = bool(
        report is not None
        and report.mode == "bulk"
        and wrong == 0
        and members_complete == len(rows)
        and len(stored) == expected
        and report.pushed == len(rows)
        and not report.failed
        and checks["metafields_set_calls"] == 0
        and not fake.internal_errors
    )
    return checks


def minimum(fake: TimedShopify, members: int, latency: float) -> dict[str, Any]:
    """The server's own minimum for the work, from its knobs (see the module docstring)."""
    staged_bytes = sum(len(data) for data in fake.staged.values())
    files = max(1, math.ceil(staged_bytes / fake.max_upload_bytes))
    costs: dict[str, int] = {}
    for request in fake.requests:
        costs.setdefault(request.operation, request.cost)
    per_file = sum(costs.get(op, 10) for op in ("stagedUploadsCreate", "bulkOperationRunMutation"))
    per_file += costs.get("node", 1)
    points = files * per_file
    bucket = max(0.0, points - fake.bucket.maximum) / fake.bucket.restore_rate
    fixed = files * (3 * latency + fake.bulk_queued_seconds)
    processing = members / fake.bulk_lines_per_second
    return {
        "jsonl_bytes": staged_bytes,
        "files_at_least": files,
        "fixed_seconds": fixed,
        "processing_seconds": processing,
        "bucket_seconds": bucket,
        "minimum_seconds": fixed + processing + bucket,
    }


def phases(fake: TimedShopify, started: float, ended: float, latency: float) -> dict[str, Any]:
    """Where the wall time went, from the server's log of requests and operations."""
    staged = [r.at for r in fake.requests if r.operation == "stagedUploadsCreate"]
    polls = [r.at for r in fake.requests if r.operation == "node"]
    operations = sorted(fake.bulk_operations.values(), key=lambda op: op.created)
    windows = []
    server_lag = client_lag = 0.0
    last_seen = None
    for op in operations:
        modelled = (
            op.created + fake.bulk_queued_seconds + len(op.lines) / fake.bulk_lines_per_second
        )
        done = op.completed
        # The poll that saw the operation finished: the first one answered after it was.
        seen = next((at for at in polls if done is not None and at >= done), None)
        if done is not None:
            server_lag += done - modelled
        if seen is not None and done is not None:
            client_lag += seen - max(done, modelled)
            last_seen = seen
        windows.append(
            {
                "lines": len(op.lines),
                "status": op.status,
                "created_at_s": round(op.created - started, 3),
                "modelled_completion_at_s": round(modelled - started, 3),
                "completed_at_s": round(done - started, 3) if done else None,
                "seen_completed_at_s": round(seen - started, 3) if seen else None,
            }
        )
    return {
        "before_first_request_s": round(staged[0] - latency - started, 3) if staged else None,
        "operations": windows,
        "poll_requests": len(polls),
        # Completion after the modelled moment: the server's CPU could not keep its rate.
        "server_lag_s": round(server_lag, 3),
        # COMPLETED seen after it happened: the polling schedule.
        "poll_lag_s": round(client_lag, 3),
        "tail_after_last_seen_s": round(ended - last_seen, 3) if last_seen else None,
        "server_line_cpu_s": round(fake.advance_seconds, 3),
        "server_longest_advance_s": round(fake.advance_longest, 3),
        "throttled_answers": sum(1 for r in fake.requests if r.throttled),
    }


def table(result: dict[str, Any]) -> str:
    phase = result["phases"]
    checks = result["checks"]
    floor = result["minimum"]
    rows = [
        "| members | server | mode | operations | wall s | server minimum s | ratio "
        "| pushed | verified |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|",
        f"| {result['members']:,} | {result['server']['processing']} | {result['mode']} "
        f"| {result['operations']} | {result['wall_seconds']:.2f} "
        f"| {floor['minimum_seconds']:.2f} | {result['ratio']:.2f} "
        f"| {checks['report_pushed']:,} | {'yes' if checks['verified'] else 'NOT VERIFIED'} |",
        "",
        "| before 1st request s | server lag s | poll lag s | polls | tail s "
        "| server line CPU s | longest advance s | JSONL MB | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {phase['before_first_request_s']} | {phase['server_lag_s']} "
        f"| {phase['poll_lag_s']} | {phase['poll_requests']} "
        f"| {phase['tail_after_last_seen_s']} | {phase['server_line_cpu_s']} "
        f"| {phase['server_longest_advance_s']} | {floor['jsonl_bytes'] / 1e6:.1f} "
        f"| {result['peak_rss_mb']:.0f} |",
    ]
    if phase["server_line_cpu_s"] > floor["processing_seconds"]:
        rows += [
            "",
            f"note: the server needed {phase['server_line_cpu_s']:.1f} s of CPU to run the "
            f"lines, more than the {floor['processing_seconds']:.1f} s its rate allows: "
            "on this machine the local server, not the push, set part of the pace.",
        ]
    if result.get("error"):
        rows += ["", f"push failed: {result['error']}"]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=500_000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds on every POST")
    parser.add_argument("--lines-per-second", type=float, default=5000.0)
    parser.add_argument("--queued-seconds", type=float, default=0.05)
    parser.add_argument("--database-url", default=None, help="a migrated, empty database")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--server-processing",
        choices=("background", "lazy"),
        default="background",
        help="run bulk lines in a server thread (as Shopify does) or only inside polls",
    )
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    url = args.database_url
    if url is None:
        path = OUT / f"shopify-push-{args.members}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    setup_db = open_database(url)
    clock = time.perf_counter()
    generate(setup_db, args.members, args.seed)
    print(
        f"inserted {args.members:,} members in {time.perf_counter() - clock:.1f} s",
        file=sys.stderr,
    )

    with TimedShopify(
        shop=SHOP,
        tokens={TOKEN},
        latency=args.latency,
        bulk_queued_seconds=args.queued_seconds,
        bulk_lines_per_second=args.lines_per_second,
    ) as fake:
        fake.add_customers(args.members)
        settings = settings_for(OUT, args.members, url, fake.url)
        rss_before = peak_mb()
        report: PushReport | None = None
        error = None
        processing = fake.background() if args.server_processing == "background" else nullcontext()
        started = time.monotonic()  # the server's clock, for the phases
        with processing:
            try:
                db = open_database(settings.database.url)
                try:
                    with client_from_settings(settings) as client:
                        report = push(db, settings, client)
                finally:
                    db.dispose()
            except ShopifyError as exc:
                error = f"{type(exc).__name__}: {exc}"
            ended = time.monotonic()
        wall = ended - started
        checks = verify(setup_db, settings, fake, report)
        floor = minimum(fake, args.members, args.latency)
        spent = phases(fake, started, ended, args.latency)
    setup_db.dispose()

    result = {
        "members": args.members,
        "mode": report.mode if report else None,
        "operations": len(report.bulk_operations) if report else len(fake.bulk_operations),
        "wall_seconds": round(wall, 3),
        "minimum": {k: round(v, 3) if isinstance(v, float) else v for k, v in floor.items()},
        "ratio": round(wall / floor["minimum_seconds"], 3),
        "checks": checks,
        "phases": spent,
        "error": error,
        "server": {
            "processing": args.server_processing,
            "latency_s": args.latency,
            "bulk_queued_seconds": args.queued_seconds,
            "bulk_lines_per_second": args.lines_per_second,
            "bucket_maximum": fake.bucket.maximum,
            "bucket_restore_rate": fake.bucket.restore_rate,
            "max_upload_bytes": fake.max_upload_bytes,
        },
        "peak_rss_mb": peak_mb(),
        "peak_rss_mb_before_push": rss_before,
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    suffix = "" if args.server_processing == "background" else "-lazy"
    target = OUT / f"shopify-push-{args.members}{suffix}.json"
    target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))
    print(f"\n{target}", file=sys.stderr)
    if not checks["verified"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
