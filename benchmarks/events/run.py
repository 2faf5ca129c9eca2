"""Benchmark: deliver pending events to the local Klaviyo under its real limits and latency.

Writes ``--events`` outbox events for ``--events / 5`` members straight into a
fresh database (SQLite by default, or ``--database-url``), starts the local
Klaviyo (tests/servers/klaviyo_server.py) with Klaviyo's real rate limits and
``--latency`` seconds on every request, and runs the deliverer
(``memberkit.events.deliver``) with the Klaviyo sink until the queue is empty.
Profile-property sync is off here (it is a separate endpoint and limit; the
point is the events path). Reports events/min and the share of what the limits
allow:

    allowed  = 1,000 events a bulk job x 150 jobs a minute (burst 10 a second)
    minimum  = when the last of ceil(events / 1000) jobs may be sent under the
               sliding windows from t = 0, plus one request latency
    share    = minimum / wall time        (target >= 90%)

    .venv/bin/python benchmarks/events/run.py --events 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "klaviyo"))

from tests.servers.klaviyo_server import FakeKlaviyo  # noqa: E402
from upload_bulk import earliest_last_send  # noqa: E402

from memberkit.config import EventsSettings, Secret  # noqa: E402
from memberkit.domain.events import MemberIdentity, entry_payload_json, member_json  # noqa: E402
from memberkit.events.deliver import Deliverer, DeliveryOptions  # noqa: E402
from memberkit.events.sinks.klaviyo import KlaviyoSink  # noqa: E402
from memberkit.events.types import ALL_EVENT_TYPES  # noqa: E402
from memberkit.integrations.klaviyo import KlaviyoClient, RetryPolicy  # noqa: E402
from memberkit.integrations.klaviyo.ratelimit import RATE_LIMITS, Endpoint  # noqa: E402
from memberkit.store.bulk import insert_rows  # noqa: E402
from memberkit.store.database import Database, open_database  # noqa: E402
from memberkit.store.models import Member, OutboxEvent  # noqa: E402

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def generate(db: Database, events: int) -> None:
    """``events`` points/added events, five per member, in id order."""
    members = max(1, events // 5)
    member_rows = [
        {
            "id": n,
            "email": f"member{n}@example.com",
            "email_key": f"member{n}@example.com",
            "shopify_id": str(7_000_000 + n),
            "points_balance": 0,
            "points_debt": 0,
            "ledger_version": 0,
            "codes_available": "[]",
            "codes_used": "[]",
            "codes_expired": "[]",
            "created_at": NOW,
            "updated_at": NOW,
        }
        for n in range(1, members + 1)
    ]
    with db.write() as session:
        insert_rows(session, Member.__table__, member_rows)  # type: ignore[arg-type]
    chunk: list[dict[str, object]] = []
    with db.write() as session:
        for n in range(events):
            member_id = n % members + 1
            identity = member_json(
                MemberIdentity(
                    member_id, f"member{member_id}@example.com", str(7_000_000 + member_id)
                )
            )
            chunk.append(
                {
                    "event_type": "points/added",
                    "member_id": member_id,
                    "payload": entry_payload_json(
                        identity,
                        entry_id=n + 1,
                        kind="credit",
                        points=10,
                        source="order",
                        source_ref=f"order {n}",
                        expires_on=None,
                        balance_after=10 * (n // members + 1),
                        debt_after=0,
                    ),
                    "created_at": NOW,
                    "actor": "bench:events",
                    "batch_id": None,
                }
            )
            if len(chunk) == 50_000:
                insert_rows(session, OutboxEvent.__table__, chunk)  # type: ignore[arg-type]
                chunk = []
        if chunk:
            insert_rows(session, OutboxEvent.__table__, chunk)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--latency", type=float, default=0.150)
    # The default configuration's delivery threads (events.workers).
    parser.add_argument("--workers", type=int, default=EventsSettings().workers)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-events-"))
    url = args.database_url or f"sqlite:///{folder / 'memberkit.db'}"
    db = open_database(url)
    started = time.perf_counter()
    generate(db, args.events)
    elapsed = time.perf_counter() - started
    print(f"generated {args.events:,} events in {elapsed:.1f} s ({url.split('@')[-1]})")

    with FakeKlaviyo(latency=args.latency) as klaviyo:
        client = KlaviyoClient(
            api_key=Secret("pk_test_key"),
            base_url=klaviyo.url,
            retry=RetryPolicy(limit=5, delay_ms=500),
        )
        sink = KlaviyoSink(client, event_types=ALL_EVENT_TYPES, bulk_threshold=10)
        options = DeliveryOptions(batch_size=args.batch_size, sync_profiles=False)
        deliverer = Deliverer(db, [sink], options=options)
        started = time.perf_counter()
        report = deliverer.run(workers=args.workers)
        wall = time.perf_counter() - started
        stored = len(klaviyo.events)
        throttled = len(klaviyo.requests_to("event-bulk-create-jobs:create", status=429))
        jobs = len(klaviyo.requests_to("event-bulk-create-jobs:create", status=202))
        sink.close()
    db.dispose()

    limit = RATE_LIMITS[Endpoint.EVENT_BULK_CREATE]
    needed = math.ceil(args.events / 1000)
    minimum = earliest_last_send(needed, limit) + args.latency
    result = {
        "events": args.events,
        "delivered": report.delivered,
        "klaviyo_stored": stored,
        "bulk_jobs": jobs,
        "throttled_429": throttled,
        "wall_seconds": round(wall, 1),
        "events_per_min": round(args.events / wall * 60),
        "allowed_events_per_min": limit.steady * 1000,
        "minimum_seconds": round(minimum, 1),
        "share_of_limits": round(minimum / wall, 3),
        "latency": args.latency,
        "workers": args.workers,
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
