"""Fixtures for the Shopify tests: a running local Shopify and a client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.integrations.shopify.helpers import SHOP, TOKEN, make_client
from tests.servers.shopify_server import FakeShopify

from memberkit.integrations.shopify import ShopifyClient
from memberkit.secrets import forget_secrets


@pytest.fixture(autouse=True)
def forget_registered_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    """A running local Shopify with Shopify's standard bucket (2,000 points, 100 a second)."""
    fake = FakeShopify(shop=SHOP, tokens={TOKEN})
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    assert fake.internal_errors == [], fake.internal_errors[0]


@pytest.fixture
def client(shopify: FakeShopify) -> Iterator[ShopifyClient]:
    with make_client(shopify) as c:
        yield c
