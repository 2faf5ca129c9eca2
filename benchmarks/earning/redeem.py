"""Redemption throughput against the local Shopify's cost limits.

    python benchmarks/earning/redeem.py --redemptions 600 [--workers 1,4] [--latency 0.05]

Each redemption is the whole path: reserve (deduct + pending row, one
transaction), ``discountCodeBasicCreate`` over HTTP to the local Shopify, finish
(wallet + ``reward/issued``, one transaction). The local Shopify charges a
mutation 10 points from Shopify's standard bucket (2,000 points, refilled at 100
a second), so after the first 200 the ceiling is 10 codes a second whatever the
client does; the figure is how close the redemptions come to that ceiling (the
client's throttle waits on ``throttleStatus`` instead of being refused).
SQLite file in ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.servers.shopify_server import FakeShopify  # noqa: E402

from memberkit.config import RewardDefinition, Secret  # noqa: E402
from memberkit.domain.members import MemberRecord  # noqa: E402
from memberkit.integrations.shopify import (  # noqa: E402
    ShopifyClient,
    discount_code_basic_create,
)
from memberkit.services.ledger.bulk import BulkPosting, post_bulk  # noqa: E402
from memberkit.services.ledger.members import upsert_members_from_export  # noqa: E402
from memberkit.services.redemption import redeem  # noqa: E402
from memberkit.store.database import open_database  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
ZONE = ZoneInfo("Europe/London")
SHOP = "bench.myshopify.com"
TOKEN = "shpat_bench_token_0123456789"
REWARD = RewardDefinition("5 off", 100, "fixed_amount", Decimal("5.00"), None, 30, "B5")


def run(count: int, workers: int, latency: float) -> dict[str, object]:
    path = OUT / f"redeem-{count}-{workers}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_database(f"sqlite:///{path}")
    with FakeShopify(shop=SHOP, tokens={TOKEN}, latency=latency) as fake:
        fake.add_customers(count)
        records = (
            MemberRecord(shopify_id=str(i), email=f"member{i}@example.com")
            for i in range(1, count + 1)
        )
        upsert_members_from_export(db, actor="bench:redeem", records=records)
        post_bulk(
            db,
            actor="bench:redeem",
            zone=ZONE,
            postings=(BulkPosting(shopify_id=str(i), points=150) for i in range(1, count + 1)),
        )
        client = ShopifyClient(shop=SHOP, access_token=Secret(TOKEN), base_url=fake.url)

        def one(i: int) -> str:
            return redeem(
                db,
                member=str(i),
                reward=REWARD,
                key=f"bench-{i}",
                create_discount=lambda d: discount_code_basic_create(client, d),
                actor="bench:redeem",
                zone=ZONE,
            ).state

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            states = list(pool.map(one, range(1, count + 1)))
        seconds = time.perf_counter() - started
        client.close()
        codes = len(fake.discounts)
        throttled = sum(1 for r in fake.requests if r.throttled)
    db.dispose()
    rate = count / seconds
    # The bucket's burst (2000 / 10 = 200 codes) then 10 codes a second.
    ceiling_s = max(0.0, (count - 200) / 10)
    return {
        "redemptions": count,
        "workers": workers,
        "latency_s": latency,
        "seconds": round(seconds, 1),
        "per_second": round(rate, 2),
        "cost_limit_seconds": round(ceiling_s, 1),
        "share_of_limit": round(ceiling_s / seconds, 2) if ceiling_s else None,
        "issued": states.count("issued"),
        "codes_in_shopify": codes,
        "throttled_answers": throttled,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redemptions", type=int, default=600)
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = [run(args.redemptions, int(w), args.latency) for w in args.workers.split(",")]
    for result in results:
        print(json.dumps(result))
    (OUT / f"redeem-{args.redemptions}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
