"""The Klaviyo client: headers, retries, Retry-After, errors that say what to do."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from tests.integrations.klaviyo.helpers import API_KEY, SleepRecorder, make_client
from tests.servers.klaviyo_server import FakeKlaviyo

from memberkit.config import Secret
from memberkit.integrations.klaviyo import (
    Endpoint,
    KlaviyoAuthError,
    KlaviyoClient,
    KlaviyoRequestError,
    KlaviyoUnavailableError,
    RetryPolicy,
)
from memberkit.integrations.klaviyo.jsonapi import dumps

SEGMENT = "/api/segments/XVnnDX/profiles"


def test_requests_carry_the_key_revision_and_json_api_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [], "links": {"next": None}})

    client = KlaviyoClient(
        api_key=Secret("pk_secret"),
        base_url="https://a.klaviyo.example",
        transport=httpx.MockTransport(handler),
    )
    client.get(Endpoint.PROFILES_LIST, "/api/profiles", params={"page[size]": "100"})
    request = seen[0]
    assert request.headers["Authorization"] == "Klaviyo-API-Key pk_secret"
    assert request.headers["revision"] == "2026-07-15"
    assert request.headers["Accept"] == "application/vnd.api+json"
    assert request.headers["Content-Type"] == "application/vnd.api+json"
    assert str(request.url) == "https://a.klaviyo.example/api/profiles?page%5Bsize%5D=100"


def test_money_is_sent_as_an_exact_json_number() -> None:
    from decimal import Decimal

    text = dumps({"balance": Decimal("10.50"), "flag": True, "n": 3, "code": ""})
    assert text == '{"balance":10.50,"flag":true,"n":3,"code":""}'
    assert json.loads(text, parse_float=Decimal)["balance"] == Decimal("10.50")


def test_429_waits_for_retry_after_then_succeeds(klaviyo: FakeKlaviyo) -> None:
    klaviyo.add_many(3, segment_id="XVnnDX")
    klaviyo.add_fault("status", "segments:profiles", status=429, retry_after=2, times=2)
    sleep = SleepRecorder()
    with make_client(klaviyo, sleep=sleep) as client:
        body = client.get(Endpoint.SEGMENT_PROFILES, SEGMENT)
    assert len(body["data"]) == 3
    assert sleep.waits == [2.0, 2.0]


def test_server_errors_timeouts_and_dropped_connections_back_off_doubling(
    klaviyo: FakeKlaviyo,
) -> None:
    klaviyo.add_many(1, segment_id="XVnnDX")
    klaviyo.add_fault("status", "segments:profiles", status=503)
    klaviyo.add_fault("drop", "segments:profiles")
    klaviyo.add_fault("slow", "segments:profiles", delay=0.6)
    sleep = SleepRecorder()
    with make_client(
        klaviyo, sleep=sleep, timeout_seconds=0.3, retry=RetryPolicy(limit=3, delay_ms=100)
    ) as client:
        body = client.get(Endpoint.SEGMENT_PROFILES, SEGMENT)
    assert len(body["data"]) == 1
    assert sleep.waits == [0.1, 0.2, 0.4]
    assert client.stats["retries"] == 3


def test_retries_give_up_after_the_limit_with_a_clear_error(klaviyo: FakeKlaviyo) -> None:
    klaviyo.add_fault("status", "segments:profiles", status=500, times=10)
    with (
        make_client(klaviyo, sleep=SleepRecorder(), retry=RetryPolicy(2, 1)) as client,
        pytest.raises(KlaviyoUnavailableError) as caught,
    ):
        client.get(Endpoint.SEGMENT_PROFILES, SEGMENT)
    assert "after 3 attempts" in caught.value.message
    assert "HTTP 500" in caught.value.message


def test_a_wrong_key_is_401_and_the_key_is_never_shown(klaviyo: FakeKlaviyo) -> None:
    with (
        make_client(klaviyo, api_key=Secret("pk_wrong_key_123")) as client,
        pytest.raises(KlaviyoAuthError) as caught,
    ):
        client.get(Endpoint.PROFILES_LIST, "/api/profiles")
    text = f"{caught.value.message} {caught.value.hint}"
    assert "401" in text and "KLAVIYO_PRIVATE_KEY" in text
    assert "pk_wrong_key_123" not in text


def test_a_403_names_the_scope_the_call_needs(klaviyo: FakeKlaviyo) -> None:
    klaviyo.api_keys["pk_read_only"] = frozenset({"profiles:read"})
    klaviyo.add_many(1, segment_id="XVnnDX")
    with (
        make_client(klaviyo, api_key=Secret("pk_read_only")) as client,
        pytest.raises(KlaviyoAuthError) as caught,
    ):
        client.get(Endpoint.SEGMENT_PROFILES, SEGMENT)
    assert "403" in caught.value.message
    assert "segments:read" in caught.value.message


def test_another_4xx_fails_with_klaviyos_error_detail(klaviyo: FakeKlaviyo) -> None:
    with make_client(klaviyo) as client, pytest.raises(KlaviyoRequestError) as caught:
        client.get(Endpoint.PROFILES_LIST, "/api/profiles", params={"page[size]": "500"})
    assert caught.value.status == 400
    assert "page[size] must be between 1 and 100" in caught.value.message
    assert caught.value.errors[0]["source"] == {"parameter": "page[size]"}


def test_server_answers_klaviyo_style_errors(klaviyo: FakeKlaviyo) -> None:
    url = f"{klaviyo.url}/api/profiles"
    no_key = httpx.get(url, headers={"revision": "2026-07-15"})
    assert no_key.status_code == 401
    error = no_key.json()["errors"][0]
    assert set(error) == {"id", "status", "code", "title", "detail", "source"}
    no_revision = httpx.get(url, headers={"Authorization": f"Klaviyo-API-Key {API_KEY}"})
    assert no_revision.status_code == 400
    assert no_revision.json()["errors"][0]["source"] == {"parameter": "revision"}


def test_a_retry_after_of_100000_seconds_waits_at_most_two_minutes(klaviyo: FakeKlaviyo) -> None:
    klaviyo.add_many(1, segment_id="XVnnDX")
    klaviyo.add_fault("status", "segments:profiles", status=429, retry_after=100_000, times=2)
    sleep = SleepRecorder()
    with make_client(klaviyo, sleep=sleep) as client:
        body = client.get(Endpoint.SEGMENT_PROFILES, SEGMENT)
    assert len(body["data"]) == 1
    assert [r.status for r in klaviyo.requests_to("segments:profiles")] == [429, 429, 200]
    # The cap is 120 s: a run never stalls for a day on one header.
    assert sleep.waits == [120.0, 120.0]


def test_a_retry_after_that_is_not_whole_seconds_waits_one_second() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "soon"}),
            httpx.Response(429, headers={"Retry-After": "-5"}),
            httpx.Response(200, json={"data": []}),
        ]
    )
    sleep = SleepRecorder()
    client = KlaviyoClient(
        api_key=Secret("pk_secret_value"),
        base_url="https://a.klaviyo.example",
        transport=httpx.MockTransport(lambda request: next(answers)),
        sleep=sleep,
    )
    client.get(Endpoint.PROFILES_LIST, "/api/profiles")
    assert sleep.waits == [1.0, 0.0]


def closed_port_url() -> str:
    """An address on 127.0.0.1 where nothing listens (the port was just released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_refused_connection_is_hinted_as_the_address_or_network_not_a_rate_limit() -> None:
    url = closed_port_url()
    sleep = SleepRecorder()
    with (
        KlaviyoClient(
            api_key=Secret(API_KEY),
            base_url=url,
            retry=RetryPolicy(limit=2, delay_ms=10),
            sleep=sleep,
        ) as client,
        pytest.raises(KlaviyoUnavailableError) as caught,
    ):
        client.get(Endpoint.PROFILES_LIST, "/api/profiles")
    assert "failed after 3 attempts" in caught.value.message
    assert "ConnectError" in caught.value.message
    hint = caught.value.hint or ""
    assert f"could not connect to {url}" in hint
    assert "klaviyo.base_url" in hint and "network" in hint
    assert "rate" not in hint.lower()
    assert sleep.waits == [0.01, 0.02]


def test_a_timeout_is_hinted_as_the_network_or_the_timeout_setting(klaviyo: FakeKlaviyo) -> None:
    klaviyo.add_fault("slow", "profiles:list", delay=0.5, times=2)
    with (
        make_client(
            klaviyo,
            sleep=SleepRecorder(),
            timeout_seconds=0.2,
            retry=RetryPolicy(limit=1, delay_ms=10),
        ) as client,
        pytest.raises(KlaviyoUnavailableError) as caught,
    ):
        client.get(Endpoint.PROFILES_LIST, "/api/profiles")
    hint = caught.value.hint or ""
    assert "klaviyo.timeout_seconds (0.2 s)" in hint
    assert "rate" not in hint.lower()


def test_429s_to_the_end_are_hinted_as_rate_limits_and_500s_as_klaviyo_down(
    klaviyo: FakeKlaviyo,
) -> None:
    klaviyo.add_fault("status", "profiles:list", status=429, retry_after=0, times=10)
    klaviyo.add_fault("status", "segments:profiles", status=502, times=10)
    with make_client(klaviyo, sleep=SleepRecorder(), retry=RetryPolicy(1, 1)) as client:
        with pytest.raises(KlaviyoUnavailableError) as limited:
            client.get(Endpoint.PROFILES_LIST, "/api/profiles")
        with pytest.raises(KlaviyoUnavailableError) as down:
            client.get(Endpoint.SEGMENT_PROFILES, SEGMENT)
    assert "429 (rate limited)" in (limited.value.hint or "")
    assert "may be down" in (down.value.hint or "")
    assert "rate" not in (down.value.hint or "").lower()


def test_an_unknown_revision_is_refused_with_a_hint_naming_the_setting(
    klaviyo: FakeKlaviyo,
) -> None:
    with (
        make_client(klaviyo, revision="1999-01-01") as client,
        pytest.raises(KlaviyoRequestError) as caught,
    ):
        client.get(Endpoint.PROFILES_LIST, "/api/profiles")
    assert caught.value.status == 400
    assert "1999-01-01" in caught.value.message
    assert "klaviyo.revision is '1999-01-01'" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (httpx.ConnectError("[Errno -2] Name or service not known"), "could not connect to"),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate"), "TLS certificates"),
        (httpx.ConnectTimeout("timed out"), "did not answer within klaviyo.timeout_seconds"),
        (httpx.RemoteProtocolError("Server disconnected"), "broke before an answer"),
    ],
    ids=["dns", "tls", "connect-timeout", "dropped"],
)
def test_every_network_fault_is_hinted_as_the_network(
    failure: httpx.HTTPError, expected: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    client = KlaviyoClient(
        api_key=Secret("pk_secret_value"),
        base_url="https://a.klaviyo.example",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(limit=1, delay_ms=10),
        sleep=SleepRecorder(),
    )
    with pytest.raises(KlaviyoUnavailableError) as caught:
        client.get(Endpoint.PROFILES_LIST, "/api/profiles")
    hint = caught.value.hint or ""
    assert expected in hint and "https://a.klaviyo.example" in hint
    assert "network" in hint
    assert "rate" not in hint.lower()
