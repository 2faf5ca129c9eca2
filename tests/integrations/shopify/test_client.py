"""The Shopify client against the local Shopify: token, version, cost throttling, retries."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from tests.integrations.shopify.helpers import SHOP, TOKEN, make_client
from tests.servers.shopify_server import FakeShopify

from memberkit.config import Secret
from memberkit.integrations.shopify import (
    CostThrottle,
    ShopifyAuthError,
    ShopifyClient,
    ShopifyRequestError,
    ShopifyUnavailableError,
    ThrottleStatus,
    shop_currency,
)
from memberkit.integrations.shopify.client import shop_base_url


def test_the_shop_answers_with_the_token_on_the_versioned_path(
    shopify: FakeShopify, client: ShopifyClient
) -> None:
    assert shop_currency(client) == "GBP"
    assert shopify.requests[-1].path == "/admin/api/2026-10/graphql.json"


def test_base_url_defaults_to_the_shop_over_https() -> None:
    assert shop_base_url(SHOP, None) == f"https://{SHOP}"
    assert shop_base_url(SHOP, "http://127.0.0.1:9/{shop}/") == f"http://127.0.0.1:9/{SHOP}"


def test_a_wrong_token_is_an_auth_error_that_never_shows_the_token(shopify: FakeShopify) -> None:
    with (
        make_client(shopify, access_token=Secret("shpat_wrong_token_999999")) as client,
        pytest.raises(ShopifyAuthError) as caught,
    ):
        shop_currency(client)
    text = f"{caught.value} {caught.value.hint}"
    assert "SHOPIFY_ACCESS_TOKEN" in text
    assert "shpat_wrong_token_999999" not in text


def test_the_token_is_never_logged(
    shopify: FakeShopify, client: ShopifyClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shopify.add_fault("status", status=502)
    shop_currency(client)
    assert TOKEN not in caplog.text
    assert "retry 1 of 3" in caplog.text


def test_an_unsupported_version_is_served_by_another_and_the_client_warns(
    shopify: FakeShopify, caplog: pytest.LogCaptureFixture
) -> None:
    with make_client(shopify, api_version="2024-01") as client:
        assert shop_currency(client) == "GBP"
    assert "served API version 2026-01" in caplog.text


def test_a_malformed_version_is_a_404_naming_the_setting(shopify: FakeShopify) -> None:
    with (
        make_client(shopify, api_version="latest") as client,
        pytest.raises(ShopifyRequestError) as caught,
    ):
        shop_currency(client)
    assert "shopify.api_version" in (caught.value.hint or "")


def test_a_query_shopify_cannot_validate_is_refused_with_its_message(
    client: ShopifyClient,
) -> None:
    with pytest.raises(ShopifyRequestError) as caught:
        client.execute("query { shop { nmae } }")
    assert "nmae" in str(caught.value)


def test_server_errors_and_dropped_connections_are_retried(
    shopify: FakeShopify, client: ShopifyClient
) -> None:
    shopify.add_fault("status", status=500)
    shopify.add_fault("drop")
    shopify.add_fault("status", status=503, retry_after="0.01")
    assert shop_currency(client) == "GBP"
    assert client.stats["retries"] == 3


def test_faults_past_the_retry_limit_raise_unavailable(
    shopify: FakeShopify, client: ShopifyClient
) -> None:
    shopify.add_fault("status", status=500, times=10)
    with pytest.raises(ShopifyUnavailableError, match="after 4 attempts"):
        shop_currency(client)


@pytest.mark.parametrize("status", [200, 429])
def test_throttled_answers_wait_for_the_bucket_and_retry(status: int) -> None:
    # A tiny bucket: 30 points, 200 a second back; five mutations of 10 points.
    with FakeShopify(
        shop=SHOP, tokens={TOKEN}, maximum_available=30, restore_rate=200, throttled_status=status
    ) as fake:
        fake.add_fault("throttled", times=2)
        with make_client(fake) as client:
            for _ in range(5):
                shop_currency(client)
            assert client.stats["throttled"] == 2
        throttled = [r for r in fake.requests if r.throttled]
        assert {r.status for r in throttled} == {status}
        assert fake.internal_errors == []


def test_the_client_paces_itself_from_the_reported_bucket_instead_of_being_throttled() -> None:
    # 20 points of bucket, 100 points a second: 30 mutations of 10 points cannot
    # go faster than ~2.8 s; a client that did not pace would be throttled.
    mutation = (
        "mutation($h: String, $p: JSON) { flowTriggerReceive(handle: $h, payload: $p) "
        "{ userErrors { message } } }"
    )
    with FakeShopify(shop=SHOP, tokens={TOKEN}, maximum_available=20, restore_rate=100) as fake:
        with make_client(fake) as client:
            for n in range(30):
                client.execute(mutation, {"h": "points-added", "p": {"n": n}})
            assert client.stats["throttled"] <= 1
        times = [r.at for r in fake.requests]
        assert times[-1] - times[0] >= 2.5
        assert len(fake.flow_triggers) == 30


def test_throttle_waits_until_the_reported_bucket_pays_the_cost() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = CostThrottle(clock=lambda: now[0], sleep=sleep)
    assert throttle.acquire(10) == 0.0  # nothing known yet: go
    throttle.update(ThrottleStatus(100, 5, 50), 10)
    throttle.acquire(30)
    assert sum(slept) == pytest.approx(0.5)  # 25 missing points at 50 a second


def test_a_mock_transport_sees_the_token_header_and_json_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "data": {"shop": {"currencyCode": "EUR"}},
                "extensions": {
                    "cost": {
                        "requestedQueryCost": 1,
                        "actualQueryCost": 1,
                        "throttleStatus": {
                            "maximumAvailable": 2000.0,
                            "currentlyAvailable": 1999,
                            "restoreRate": 100.0,
                        },
                    }
                },
            },
        )

    with ShopifyClient(
        shop=SHOP, access_token=Secret(TOKEN), transport=httpx.MockTransport(handler)
    ) as client:
        assert shop_currency(client) == "EUR"
        assert client.throttle.status is not None
        assert client.throttle.status.currently_available == 1999
    assert seen[0].headers["X-Shopify-Access-Token"] == TOKEN
    assert str(seen[0].url) == f"https://{SHOP}/admin/api/2026-10/graphql.json"
    assert "query" in json.loads(seen[0].content)
