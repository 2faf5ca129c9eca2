"""``POST /webhooks/shopify`` over real HTTP handling (Starlette's test client): 401 or queued."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from memberkit.config import load_settings
from memberkit.store.database import Database
from memberkit.store.models import ShopifyWebhook
from memberkit.web.routes import shopify_webhooks

SECRET = "whsec-route-test"


@pytest.fixture
def client(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("SHOPIFY_WEBHOOK_SECRET", SECRET)
    app = FastAPI()
    app.state.settings = load_settings(None, environ={})
    app.state.db = db
    app.include_router(shopify_webhooks.router)
    return TestClient(app)


def signed(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def count(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(ShopifyWebhook)) or 0)


def post(client: TestClient, body: bytes, signature: str | None, webhook_id: str = "w1") -> int:
    headers = {"X-Shopify-Topic": "orders/paid", "X-Shopify-Webhook-Id": webhook_id}
    if signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = signature
    return client.post("/webhooks/shopify", content=body, headers=headers).status_code


def test_a_bad_or_missing_signature_is_401_and_nothing_is_queued(
    client: TestClient, db: Database
) -> None:
    body = json.dumps({"name": "#1001"}).encode()
    assert post(client, body, None) == 401
    assert post(client, body, signed(body, "other-secret")) == 401
    # Signed, then changed in transit: the signature covers the exact bytes.
    assert post(client, body + b" ", signed(body)) == 401
    assert count(db) == 0


def test_a_signed_webhook_is_queued_once(client: TestClient, db: Database) -> None:
    body = json.dumps({"name": "#1001"}).encode()
    assert post(client, body, signed(body)) == 200
    response = client.post(
        "/webhooks/shopify",
        content=body,
        headers={
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Webhook-Id": "w1",
            "X-Shopify-Hmac-Sha256": signed(body),
        },
    )
    assert response.json()["status"] == "duplicate"
    assert count(db) == 1


def test_without_a_configured_secret_every_webhook_is_refused(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPIFY_WEBHOOK_SECRET")
    body = b"{}"
    assert post(client, body, signed(body, "")) == 401
    assert count(db) == 0
