"""Shared values for the Shopify tests: the test token, the shop, a client on the local server."""

from __future__ import annotations

from typing import Any

from tests.servers.shopify_server import FakeShopify

from memberkit.config import Secret
from memberkit.integrations.shopify import RetryPolicy, ShopifyClient

TOKEN = "shpat_test_token_0123456789"
SHOP = "memberkit-test.myshopify.com"


def make_client(fake: FakeShopify, **kwargs: Any) -> ShopifyClient:
    """A client on ``fake`` with fast retries (overridable)."""
    options: dict[str, Any] = {
        "shop": SHOP,
        "access_token": Secret(TOKEN),
        "base_url": fake.url,
        "retry": RetryPolicy(limit=3, delay_ms=10),
    }
    options.update(kwargs)
    return ShopifyClient(**options)
