"""A crash never loses an event: SIGKILL the deliverer at random points, run it again, count.

The deliverer is the real command (``memberkit events deliver --once``) in a
child process, against the local Klaviyo, Shopify and a webhook receiver, on
SQLite and on PostgreSQL. Afterwards: Klaviyo holds every event exactly once
(its ``unique_id`` is the event id), Flow and the webhook got every event at
least once, and each member's events first arrived in order.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.events.receiver import Receiver, running_receiver
from tests.ledger.conftest import ZONE
from tests.servers.klaviyo_server import FakeKlaviyo
from tests.servers.shopify_server import FakeShopify

from memberkit.events.outbox import list_events
from memberkit.services.ledger import points
from memberkit.services.ledger.members import create_member
from memberkit.store.database import open_database

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
SECRET = "whsec_test_secret_0123456789"
TOKEN = "shpat_test_token_0123456789"
MEMBERS = 40


def _first_arrivals_in_order(records: list[tuple[int, int]]) -> bool:
    """(member, event id) in arrival order: each member's first arrivals ascend."""
    seen: set[int] = set()
    last: dict[int, int] = {}
    for member, event_id in records:
        if event_id in seen:
            continue
        seen.add(event_id)
        if event_id < last.get(member, 0):
            return False
        last[member] = event_id
    return True


def _arrived(klaviyo: FakeKlaviyo, shopify: FakeShopify, receiver: Receiver) -> int:
    return len(klaviyo.events) + len(shopify.flow_triggers) + len(receiver.received)


@pytest.mark.slow
def test_killing_the_deliverer_at_random_points_loses_nothing_and_doubles_nothing_in_klaviyo(
    database_url: str, tmp_path: Path
) -> None:
    db = open_database(database_url)
    for n in range(MEMBERS):
        member = create_member(
            db, actor="cli:jo", email=f"m{n}@example.com", shopify_id=str(5000 + n), now=NOW
        )
        for k in range(2):
            points.add_points(db, actor="cli:jo", member=member, points=5 + k, zone=ZONE, now=NOW)
    events = list_events(db, limit=10_000)
    all_ids = sorted(e.id for e in events)
    points_ids = sorted(e.id for e in events if e.event_type == "points/added")
    db.dispose()

    with (
        FakeKlaviyo(latency=0.01, job_queued_seconds=0.01, job_processing_seconds=0.02) as klaviyo,
        FakeShopify(tokens={TOKEN}, latency=0.01) as shopify,
        running_receiver(SECRET) as receiver,
    ):
        shopify.add_customers(MEMBERS + 10, start=5000)
        config = tmp_path / "memberkit.toml"
        config.write_text(
            f'[database]\nurl = "{database_url}"\n'
            f'[klaviyo]\nbase_url = "{klaviyo.url}"\n'
            f'[shopify]\nshop = "{shopify.shop}"\nbase_url = "{shopify.url}"\n'
            "[events]\nbatch_size = 25\nretry_delay_ms = 0\n"
            "[events.klaviyo]\nenabled = true\nbulk_threshold = 10\n"
            '[events.flow]\nenabled = true\nhandles = { "points/added" = "points-added" }\n'
            f'[events.webhooks]\nenabled = true\nurls = ["{receiver.url}"]\n'
        )
        env = {
            **os.environ,
            "KLAVIYO_PRIVATE_KEY": "pk_test_key",
            "SHOPIFY_ACCESS_TOKEN": TOKEN,
            "MEMBERKIT_WEBHOOK_SECRET": SECRET,
        }
        command = [
            sys.executable,
            "-m",
            "memberkit",
            "events",
            "deliver",
            "--once",
            "-c",
            str(config),
        ]
        rng = random.Random(12)
        kills = 0
        progress: list[int] = []
        for _ in range(8):
            child = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # Kill at a random point of the work: once a random number more events
            # arrived somewhere (mid-batch, between sinks, while recording).
            start = _arrived(klaviyo, shopify, receiver)
            target = start + rng.randint(1, 40)
            deadline = time.monotonic() + 30
            while (
                child.poll() is None
                and _arrived(klaviyo, shopify, receiver) < target
                and time.monotonic() < deadline
            ):
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                kills += 1
            child.wait()
            progress.append(len(receiver.received))
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
        assert final.returncode == 0, final.stderr
        assert kills >= 1

        # Klaviyo: every event, each exactly once (it counts a unique_id once).
        klaviyo_ids = sorted(int(key[2]) for key in klaviyo.events)
        assert klaviyo_ids == all_ids
        # Flow (points/added only) and the webhook: every event at least once.
        flow = [(t["payload"]["member"]["id"], t["payload"]["id"]) for t in shopify.flow_triggers]
        assert sorted({event_id for _, event_id in flow}) == points_ids
        hooks = [(r["member"]["id"], r["id"]) for r in receiver.received]
        assert sorted({event_id for _, event_id in hooks}) == all_ids
        assert receiver.bad_signatures == 0
        assert _first_arrivals_in_order(flow) and _first_arrivals_in_order(hooks)
        assert klaviyo.internal_errors == [] and shopify.internal_errors == []
