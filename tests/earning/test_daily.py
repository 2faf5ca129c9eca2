"""The earning part of the daily schedule: one call releases, applies webhooks, moves tiers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.earning.conftest import order_rows, write_orders
from tests.earning.test_webhooks import SECRET, order_payload

from memberkit.config import load_settings
from memberkit.services.earning.daily import run_earning_daily
from memberkit.services.earning.export import earn_from_export
from memberkit.services.earning.webhooks import receive_webhook, signature_of
from memberkit.services.ledger.members import create_member
from memberkit.services.ledger.points import get_balance
from memberkit.services.ledger.tiers import add_tier
from memberkit.store.database import Database

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def test_one_daily_call_releases_applies_and_upgrades_and_twice_changes_nothing(
    db: Database, tmp_path: Path
) -> None:
    settings = load_settings(None, environ={})
    zone = settings.processing.zone
    add_tier(db, name="Silver", rank=1, threshold=50)
    create_member(db, actor="test:suite", email="ann@example.com")
    earn_from_export(
        db,
        path=write_orders(
            tmp_path / "o.csv",
            [order_rows("#900", "ann@example.com", "30.00", created="2026-11-01 09:00:00 +0000")],
        ),
        earning=settings.earning,
        currency="GBP",
        zone=zone,
        actor="test:suite",
        output_dir=tmp_path,
        now=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
    )
    body = json.dumps(order_payload(subtotal_price="40.00", created_at="2026-11-01T10:00:00Z"))
    receive_webhook(
        db,
        body=body.encode(),
        headers={
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Webhook-Id": "w1",
            "X-Shopify-Hmac-Sha256": signature_of(body.encode(), SECRET),
        },
        secret=SECRET,
        now=NOW,
    )
    first = run_earning_daily(db, settings, now=NOW)
    # #900 (30 points) fell due on 15 Nov; #1001 (40 points) too, as soon as it arrived.
    assert first.released.points == 30 and first.webhooks.summary.points_released == 40
    assert first.tiers.upgraded == 1
    assert get_balance(db, member="ann@example.com")[1] == 70
    second = run_earning_daily(db, settings, now=NOW)
    assert (second.released.orders, second.webhooks.applied, second.tiers.upgraded) == (0, 0, 0)
