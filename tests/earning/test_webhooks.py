"""Shopify order webhooks: signed or refused, de-duplicated, queued, applied like the export."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from tests.earning.conftest import order_rows, write_orders

from memberkit.config import EarningSettings
from memberkit.services.earning.export import earn_from_export
from memberkit.services.earning.webhooks import (
    WebhookRejected,
    apply_queued,
    receive_webhook,
    signature_of,
    verify_signature,
)
from memberkit.services.ledger.members import create_member
from memberkit.services.ledger.points import get_balance
from memberkit.store.database import Database
from memberkit.store.models import ShopifyWebhook

ZONE = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
SECRET = "whsec-test-1234"
EARNING = EarningSettings(pending_days=0)


def order_payload(name: str = "#1001", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": 820982911946154508,
        "name": name,
        "email": "ann@example.com",
        "financial_status": "paid",
        "subtotal_price": "42.99",
        "total_price": "52.98",
        "currency": "GBP",
        "created_at": "2026-11-18T09:14:02-05:00",
        "cancelled_at": None,
        "tags": "",
        "discount_codes": [],
    }
    payload.update(extra)
    return payload


def deliver(
    db: Database,
    topic: str,
    payload: dict[str, Any],
    *,
    webhook_id: str,
    secret: str = SECRET,
    signature: str | None = None,
    triggered: str | None = None,
) -> str:
    body = json.dumps(payload).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature if signature is not None else signature_of(body, secret),
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": "example.myshopify.com",
    }
    if triggered:
        headers["X-Shopify-Triggered-At"] = triggered
    return receive_webhook(db, body=body, headers=headers, secret=SECRET, now=NOW).status


def apply(db: Database) -> Any:
    return apply_queued(db, earning=EARNING, currency="GBP", zone=ZONE, now=NOW)


@pytest.fixture
def member(db: Database) -> Database:
    create_member(db, actor="test:suite", email="ann@example.com")
    return db


def queued(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(ShopifyWebhook)) or 0)


def test_the_signature_is_the_base64_hmac_of_the_raw_body() -> None:
    # The example from Shopify's docs pattern: HMAC-SHA256, base64.
    body = b'{"id":1}'
    good = signature_of(body, SECRET)
    assert verify_signature(body, good, SECRET)
    assert not verify_signature(body + b" ", good, SECRET)
    assert not verify_signature(body, good, "other")
    assert not verify_signature(body, None, SECRET)


def test_a_webhook_with_a_bad_signature_changes_nothing(member: Database) -> None:
    with pytest.raises(WebhookRejected):
        deliver(member, "orders/paid", order_payload(), webhook_id="w1", signature="AAAA")
    with pytest.raises(WebhookRejected):
        deliver(member, "orders/paid", order_payload(), webhook_id="w1", secret="wrong")
    with pytest.raises(WebhookRejected):
        deliver(member, "orders/paid", order_payload(), webhook_id="w1", signature="")
    assert queued(member) == 0
    assert apply(member).applied == 0
    assert get_balance(member, member="ann@example.com")[1] == 0


def test_a_stale_webhook_is_refused(member: Database) -> None:
    with pytest.raises(WebhookRejected, match="too long ago"):
        deliver(
            member,
            "orders/paid",
            order_payload(),
            webhook_id="w1",
            triggered="2026-11-10T00:00:00Z",
        )
    assert queued(member) == 0


def test_a_webhook_delivered_twice_is_queued_once_and_earns_once(member: Database) -> None:
    assert deliver(member, "orders/paid", order_payload(), webhook_id="w1") == "queued"
    assert deliver(member, "orders/paid", order_payload(), webhook_id="w1") == "duplicate"
    assert deliver(member, "customers/create", {"id": 1}, webhook_id="w2") == "ignored"
    assert queued(member) == 1
    done = apply(member)
    assert done.applied == 1 and done.summary.points_earned == 42
    assert apply(member).applied == 0
    assert get_balance(member, member="ann@example.com")[1] == 42


def test_a_webhook_and_a_later_export_never_award_twice(member: Database, tmp_path: Path) -> None:
    deliver(member, "orders/paid", order_payload(), webhook_id="w1")
    apply(member)
    path = write_orders(tmp_path / "o.csv", [order_rows("#1001", "ann@example.com", "42.99")])
    result = earn_from_export(
        member,
        path=path,
        earning=EARNING,
        currency="GBP",
        zone=ZONE,
        actor="test:suite",
        output_dir=tmp_path,
        now=NOW,
    )
    assert result.summary.already_earned == 1 and result.summary.earned == 0
    # A second paid webhook for the same order (a new delivery id) adds nothing either.
    deliver(member, "orders/paid", order_payload(), webhook_id="w9")
    assert apply(member).summary.already_earned == 1
    assert get_balance(member, member="ann@example.com")[1] == 42


def test_refunds_and_cancellations_take_points_back(member: Database) -> None:
    deliver(member, "orders/paid", order_payload(subtotal_price="100.00"), webhook_id="w1")
    apply(member)
    refund = {
        "id": 509562969,
        "order_id": 820982911946154508,
        "refund_line_items": [{"quantity": 1, "subtotal": "25.00", "total_tax": "5.00"}],
    }
    deliver(member, "refunds/create", refund, webhook_id="w2")
    assert apply(member).summary.points_taken == 25
    assert get_balance(member, member="ann@example.com")[1] == 75
    cancelled = order_payload(
        subtotal_price="100.00", cancelled_at="2026-11-19T10:00:00Z", financial_status="refunded"
    )
    deliver(member, "orders/cancelled", cancelled, webhook_id="w3")
    assert apply(member).summary.points_taken == 75
    assert get_balance(member, member="ann@example.com")[1] == 0


def test_a_refund_before_its_order_waits_for_it(member: Database) -> None:
    refund = {"order_id": 820982911946154508, "refund_line_items": [{"subtotal": "10.00"}]}
    deliver(member, "refunds/create", refund, webhook_id="w1")
    assert apply(member).waiting == 1
    deliver(member, "orders/paid", order_payload(subtotal_price="40.00"), webhook_id="w2")
    done = apply(member)
    assert done.applied == 2 and done.summary.points_taken == 10
    assert get_balance(member, member="ann@example.com")[1] == 30
