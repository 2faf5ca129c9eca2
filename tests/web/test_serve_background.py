"""A real ``memberkit serve`` applies a signed Shopify webhook and delivers the events it causes.

Nobody runs ``points apply-webhooks`` or ``events deliver`` here: the loop inside
``serve`` (``web/background.py``) does both within seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.events.receiver import Receiver, running_receiver
from tests.web.server import LiveServer, free_port, memberkit

from memberkit.services.earning.webhooks import signature_of

SHOPIFY_SECRET = "shpss-serve-background-0123"
EVENTS_SECRET = "whsec-serve-background-0123"

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(EVENTS_SECRET) as r:
        yield r


@pytest.fixture
def server(tmp_path: Path, receiver: Receiver) -> Iterator[LiveServer]:
    folder = tmp_path / "store"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "api.env").write_text(
        f"SHOPIFY_WEBHOOK_SECRET={SHOPIFY_SECRET}\nMEMBERKIT_WEBHOOK_SECRET={EVENTS_SECRET}\n",
        encoding="utf-8",
    )
    (folder / "memberkit.toml").write_text(
        f'[database]\nurl = "sqlite:///{folder / "memberkit.db"}"\n'
        "[web]\nbackground_poll_seconds = 0.2\n"
        "[earning]\npending_days = 0\n"
        f'[events.webhooks]\nenabled = true\nurls = ["{receiver.url}"]\n',
        encoding="utf-8",
    )
    live = LiveServer(folder, free_port())
    added = memberkit("members", "add", "ann@example.com", config=live.config)
    assert added.returncode == 0, added.stderr
    live.start()
    try:
        yield live
    finally:
        live.stop()


def balance(server: LiveServer) -> int:
    shown = memberkit("points", "balance", "ann@example.com", "--json", config=server.config)
    assert shown.returncode == 0, shown.stderr
    return int(json.loads(shown.stdout)["balance"])


def test_a_paid_order_webhook_earns_and_its_event_is_delivered_by_serve(
    server: LiveServer, receiver: Receiver
) -> None:
    body = json.dumps(
        {
            "id": 820982911946154508,
            "name": "#1001",
            "email": "ann@example.com",
            "financial_status": "paid",
            "subtotal_price": "42.99",
            "currency": "GBP",
            "created_at": "2026-11-18T09:14:02-05:00",
            "cancelled_at": None,
            "tags": "",
            "discount_codes": [],
        }
    ).encode()
    headers = {
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Hmac-Sha256": signature_of(body, SHOPIFY_SECRET),
        "X-Shopify-Webhook-Id": "serve-1",
        "Content-Type": "application/json",
    }
    answer = httpx.post(f"{server.url}/webhooks/shopify", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["status"] == "queued"

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        types = [r["type"] for r in list(receiver.received)]
        if "points/added" in types:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"serve delivered {types}; log: {server.log.read_text()[-2000:]}")
    assert balance(server) == 42
    added = next(r for r in receiver.received if r["type"] == "points/added")
    assert added["points"] == 42 and added["source"] == "order"
    assert receiver.bad_signatures == 0


def test_a_round_that_raises_does_not_end_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memberkit.config import load_settings
    from memberkit.store.database import open_database
    from memberkit.web.background import BackgroundLoop

    config = tmp_path / "memberkit.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "m.db"}"\n'
        "[web]\nbackground_poll_seconds = 0.01\n",
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    db = open_database(settings.database.url)
    loop = BackgroundLoop(settings, db)
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")

    monkeypatch.setattr(loop, "run_once", flaky)
    loop.start()
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.stop()
    db.dispose()
    assert len(calls) >= 3
