"""A worker process for the concurrency test: many postings to one member, as fast as it can.

Usage: python hammer_worker.py DATABASE_URL MEMBER_ID ITERATIONS START_AT_EPOCH
Each iteration adds 2 points and deducts 1, so N workers leave N * ITERATIONS points.
"""

from __future__ import annotations

import sys
import time
from zoneinfo import ZoneInfo

from memberkit.services.ledger.points import add_points, deduct_points
from memberkit.store.database import open_database


def main(url: str, member_id: int, iterations: int, start_at: float) -> None:
    db = open_database(url)
    zone = ZoneInfo("Europe/London")
    time.sleep(max(0.0, start_at - time.time()))  # start together with the other workers
    for _ in range(iterations):
        add_points(db, actor="test:suite", member=member_id, points=2, zone=zone, source="api")
        deduct_points(db, actor="test:suite", member=member_id, points=1, zone=zone, source="api")
    db.dispose()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
