"""Benchmark: upload changed profiles with bulk import jobs under Klaviyo's real limits.

Starts the local Klaviyo server (tests/servers/klaviyo_server.py) holding
``--profiles`` existing profiles, with the real rate limits and ``--latency``
seconds on every request, then uploads new properties for all of them with
``BulkProfileUploader`` in jobs of ``--chunk-size`` (500,000 / 2,500 = 200 jobs,
so the 150/min steady limit of job creation binds). Reports the 429s received,
the wall time, and its ratio to the minimum the limits allow:

    minimum = time of the last job creation the burst/steady windows permit
              (a sliding-window schedule from t = 0)
            + one request latency (that creation)
            + the server's job time (queued + processing)
            + one request latency (the poll that sees it complete)

    .venv/bin/python benchmarks/klaviyo/upload_bulk.py --profiles 500000 --chunk-size 2500
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.servers.klaviyo_server import ALL_SCOPES, FakeKlaviyo  # noqa: E402

from memberkit.config import Secret  # noqa: E402
from memberkit.integrations.klaviyo import (  # noqa: E402
    BulkProfileUploader,
    KlaviyoClient,
    ProfileUpdate,
    RetryPolicy,
)
from memberkit.integrations.klaviyo.ratelimit import RATE_LIMITS, Endpoint, RateLimit  # noqa: E402


def earliest_last_send(requests: int, limit: RateLimit) -> float:
    """When the last of ``requests`` may be sent under sliding burst/steady windows."""
    sent: list[float] = []
    t = 0.0
    for _ in range(requests):
        t = max(
            t,
            sent[-limit.burst] + 1.0 if len(sent) >= limit.burst else 0.0,
            sent[-limit.steady] + 60.0 if len(sent) >= limit.steady else 0.0,
        )
        sent.append(t)
    return sent[-1]


def properties(n: int) -> dict[str, bool | int | Decimal | str]:
    value = Decimal(n % 5000) / 100
    return {
        "has_dividends": n % 3 != 0,
        "discount_code": f"DIV-{n:07d}" if n % 3 else "",
        "discount_value": value,
        "min_spend": Decimal("50.00"),
        "multiple_codes": n % 4 == 0,
        "number_of_codes": n % 6,
        "balance": value * 2,
        "account_state": "enabled",
        "MBR_date_created": "2021-03-04",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=500_000)
    parser.add_argument("--chunk-size", type=int, default=2500)
    parser.add_argument("--latency", type=float, default=0.150)
    parser.add_argument("--job-queued", type=float, default=0.2)
    parser.add_argument("--job-processing", type=float, default=0.5)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "klaviyo.jsonl")
    args = parser.parse_args()

    fake = FakeKlaviyo(
        api_keys={"pk_bench": ALL_SCOPES},
        latency=args.latency,
        job_queued_seconds=args.job_queued,
        job_processing_seconds=args.job_processing,
    )
    fake.add_many(args.profiles)
    updates = [
        ProfileUpdate(n, f"member{n}@example.com", properties(n)) for n in range(args.profiles)
    ]
    fake.start()
    client = KlaviyoClient(api_key=Secret("pk_bench"), base_url=fake.url, retry=RetryPolicy(5, 500))
    uploader = BulkProfileUploader(
        client, chunk_size=args.chunk_size, poll_interval_seconds=args.poll_interval
    )
    start = time.monotonic()
    report = uploader.upload(updates)
    wall = time.monotonic() - start

    jobs = report.jobs_submitted
    limit = RATE_LIMITS[Endpoint.BULK_IMPORT_CREATE]
    minimum = (
        earliest_last_send(jobs, limit)
        + args.latency
        + args.job_queued
        + args.job_processing
        + args.latency
    )
    wrong = 0
    for update in updates:
        profile = fake.profile_by_email(update.email)
        got = {k: profile.properties.get(k) for k in update.properties} if profile else None
        if got != update.properties:
            wrong += 1
    throttled = [r for r in fake.requests if r.status == 429]
    result = {
        "benchmark": "klaviyo_upload_bulk",
        "profiles": args.profiles,
        "chunk_size": args.chunk_size,
        "latency_s": args.latency,
        "job_time_s": args.job_queued + args.job_processing,
        "poll_interval_s": args.poll_interval,
        "jobs_planned": report.jobs_planned,
        "jobs_submitted": jobs,
        "jobs_completed": report.jobs_completed,
        "uploaded": len(report.uploaded),
        "failed": len(report.failed),
        "profiles_not_matching_on_server": wrong,
        "requests_429": len(throttled),
        "job_status_requests": len(fake.requests_to("profile-bulk-import-jobs:get")),
        "wall_s": round(wall, 2),
        "minimum_s": round(minimum, 2),
        "ratio_to_minimum": round(wall / minimum, 3),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), **result}) + "\n")
    client.close()
    fake.stop()


if __name__ == "__main__":
    main()
