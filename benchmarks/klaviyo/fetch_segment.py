"""Benchmark: fetch a big Klaviyo segment through the sliced parallel fetch.

Starts the local Klaviyo server (tests/servers/klaviyo_server.py) with the real
rate limits and ``--latency`` seconds added to every request, loads
``--profiles`` members into one segment, fetches it with ``ProfileFetcher`` and
reports requests per minute as a share of the endpoint's 700/min steady limit,
and the 429s received. ``--max-minutes`` stops early (the rate over the run so
far is still measured; the profile count is then partial).

    .venv/bin/python benchmarks/klaviyo/fetch_segment.py --profiles 1000000
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.servers.klaviyo_server import ALL_SCOPES, FakeKlaviyo  # noqa: E402

from memberkit.config import Secret  # noqa: E402
from memberkit.integrations.klaviyo import (  # noqa: E402
    KlaviyoClient,
    ProfileFetcher,
    ProfileSource,
    RetryPolicy,
)
from memberkit.integrations.klaviyo.ratelimit import RATE_LIMITS, Endpoint  # noqa: E402

PROPS = {
    "has_dividends": True,
    "discount_code": "DIV-7KQ2-91XZ",
    "discount_value": 10.0,
    "min_spend": 50.0,
    "multiple_codes": False,
    "number_of_codes": 1,
    "balance": 10.0,
    "account_state": "enabled",
    "MBR_date_created": "2021-03-04",
}


class Stop(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--latency", type=float, default=0.150)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--max-minutes", type=float, default=0.0, help="0 = run to the end")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "klaviyo.jsonl")
    args = parser.parse_args()

    fake = FakeKlaviyo(api_keys={"pk_bench": ALL_SCOPES}, latency=args.latency)
    load = time.perf_counter()
    # Members joined over about six years.
    fake.add_many(args.profiles, segment_id="XVnnDX", spacing=180.0, properties=PROPS)
    print(f"loaded {args.profiles:,} profiles in {time.perf_counter() - load:.1f} s", flush=True)
    fake.start()
    limit = RATE_LIMITS[Endpoint.SEGMENT_PROFILES]
    client = KlaviyoClient(
        api_key=Secret("pk_bench"),
        base_url=fake.url,
        retry=RetryPolicy(5, 500),
        max_connections=args.workers + 4,
    )
    pages = 0
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else None
    lock = threading.Lock()

    def on_page(count: int) -> None:
        nonlocal pages
        with lock:
            pages += 1
            if pages % 500 == 0:
                print(f"  {pages} pages, {time.monotonic() - start:.0f} s", flush=True)
        if deadline is not None and time.monotonic() > deadline:
            raise Stop

    fetcher = ProfileFetcher(
        client, ProfileSource("segment", "XVnnDX"), workers=args.workers, on_page=on_page
    )
    start = time.monotonic()
    stopped = False
    profiles = 0
    try:
        index = fetcher.fetch()
        profiles = len(index.profiles)
    except Stop:
        stopped = True
    wall = time.monotonic() - start
    records = fake.requests_to("segments:profiles")
    ok = [r for r in records if r.status == 200]
    throttled = [r for r in records if r.status == 429]
    span = (ok[-1].at - ok[0].at) if len(ok) > 1 else wall
    per_minute = len(ok) / (wall / 60)
    # Steady-state: whole minutes after the first, where the burst allowance is spent.
    steady_from = ok[0].at + 60
    steady = [r for r in ok if r.at >= steady_from]
    steady_minutes = (ok[-1].at - steady_from) / 60 if steady else 0
    result = {
        "benchmark": "klaviyo_fetch_segment",
        "profiles_loaded": args.profiles,
        "profiles_fetched": profiles,
        "stopped_early": stopped,
        "latency_s": args.latency,
        "workers": args.workers,
        "requests_ok": len(ok),
        "requests_429": len(throttled),
        "wall_s": round(wall, 1),
        "requests_per_min": round(per_minute, 1),
        "share_of_steady_limit": round(per_minute / limit.steady, 3),
        "steady_window_requests_per_min": round(len(steady) / steady_minutes, 1)
        if steady_minutes > 0
        else None,
        "first_to_last_request_s": round(span, 1),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), **result}) + "\n")
    client.close()
    fake.stop()


if __name__ == "__main__":
    main()
