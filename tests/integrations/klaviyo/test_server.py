"""The local Klaviyo is as strict as the API: revisions, paging, faults, numbers, jobs.

A test server that accepts what Klaviyo refuses lets the client's bugs through;
these tests hold the server to the documented contract, with raw HTTP requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.integrations.klaviyo.helpers import API_KEY
from tests.servers.klaviyo_model import KNOWN_REVISIONS
from tests.servers.klaviyo_server import ALL_SCOPES, FakeKlaviyo

HEADERS = {
    "Authorization": f"Klaviyo-API-Key {API_KEY}",
    "revision": "2026-07-15",
    "Accept": "application/vnd.api+json",
    "Content-Type": "application/vnd.api+json",
}
JOBS = "/api/profile-bulk-import-jobs"


class ServerClock:
    """The server's clock, moved by hand: no test waits for a job in real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ServerClock:
    return ServerClock()


@pytest.fixture
def server(clock: ServerClock) -> Iterator[FakeKlaviyo]:
    fake = FakeKlaviyo(
        api_keys={API_KEY: ALL_SCOPES},
        clock=clock,
        job_queued_seconds=2.0,
        job_processing_seconds=3.0,
    )
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    assert fake.internal_errors == [], fake.internal_errors[0]


def get(fake: FakeKlaviyo, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{fake.url}{path}", headers={**HEADERS, **headers})


def post(fake: FakeKlaviyo, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{fake.url}{path}", headers=HEADERS, content=json.dumps(body))


def import_job(*profiles: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {"data": [{"type": "profile", "attributes": p} for p in profiles]}
            },
        }
    }


def the_error(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1
    error: dict[str, Any] = errors[0]
    assert set(error) == {"id", "status", "code", "title", "detail", "source"}
    return error


# ----- revision ---------------------------------------------------------------------


@pytest.mark.parametrize("revision", ["1999-01-01", "2026-07-16", "latest", "2026-7-15", "x"])
def test_an_unknown_or_malformed_revision_gets_klaviyos_400(
    server: FakeKlaviyo, revision: str
) -> None:
    response = get(server, "/api/profiles", revision=revision)
    assert response.status_code == 400
    error = the_error(response)
    assert error["status"] == 400 and error["code"] == "invalid"
    assert error["source"] == {"parameter": "revision"}
    assert revision in error["detail"]


@pytest.mark.parametrize("revision", ["2026-07-15", "2024-10-15", "2026-04-15.pre"])
def test_a_released_revision_and_its_beta_are_served(server: FakeKlaviyo, revision: str) -> None:
    assert get(server, "/api/profiles", revision=revision).status_code == 200


def test_the_clients_default_revision_is_one_the_server_knows() -> None:
    from memberkit.config import KlaviyoSettings

    assert KlaviyoSettings().revision in KNOWN_REVISIONS


# ----- paging -------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["abc", "0", "101", "-1", "1_0", " 5", "", "1e2"])
def test_a_bad_page_size_is_a_400_on_import_errors_and_profile_listing(
    server: FakeKlaviyo, size: str
) -> None:
    job = post(server, JOBS, import_job({"email": "a@example.com"})).json()["data"]["id"]
    for path in (
        f"{JOBS}/{job}/import-errors",
        "/api/profiles",
        "/api/segments/XVnnDX/profiles",
    ):
        server.add_to_segment("XVnnDX", "none", 0.0)
        response = get(server, f"{path}?page%5Bsize%5D={size.replace(' ', '%20')}")
        assert response.status_code == 400, path
        assert the_error(response)["source"] == {"parameter": "page[size]"}, path


def test_a_bad_import_errors_cursor_or_parameter_is_a_400(server: FakeKlaviyo) -> None:
    job = post(server, JOBS, import_job({"email": "a@example.com"})).json()["data"]["id"]
    cursor = get(server, f"{JOBS}/{job}/import-errors?page%5Bcursor%5D=nope")
    assert cursor.status_code == 400
    assert the_error(cursor)["source"] == {"parameter": "page[cursor]"}
    unknown = get(server, f"{JOBS}/{job}/import-errors?sort=id")
    assert unknown.status_code == 400
    assert the_error(unknown)["source"] == {"parameter": "sort"}


def test_a_bug_in_the_server_is_a_500_answer_not_a_dropped_connection(
    server: FakeKlaviyo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("oops")

    monkeypatch.setattr(server, "_list_profiles", broken)
    response = get(server, "/api/profiles")
    assert response.status_code == 500
    assert the_error(response)["detail"] == "internal server error"
    assert len(server.internal_errors) == 1 and "RuntimeError: oops" in server.internal_errors[0]
    server.internal_errors.clear()  # expected here; any other test fails on one


# ----- faults fire after auth and rate limits ----------------------------------------


def test_a_scripted_fault_does_not_fire_on_a_request_that_fails_auth(server: FakeKlaviyo) -> None:
    fault = server.add_fault("status", "profiles:list", status=503)
    wrong_key = get(server, "/api/profiles", Authorization="Klaviyo-API-Key pk_wrong_value")
    assert wrong_key.status_code == 401
    bad_revision = get(server, "/api/profiles", revision="1999-01-01")
    assert bad_revision.status_code == 400
    assert fault.times == 1  # still waiting for a request the server would process
    assert get(server, "/api/profiles").status_code == 503
    assert get(server, "/api/profiles").status_code == 200


def test_a_scripted_fault_does_not_fire_on_a_rate_limited_request(
    server: FakeKlaviyo, clock: ServerClock
) -> None:
    server.rate_limits["profiles:list"] = (1, 10)
    assert get(server, "/api/profiles").status_code == 200
    fault = server.add_fault("status", "profiles:list", status=500)
    limited = get(server, "/api/profiles")  # the clock stands still: the burst is spent
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert fault.times == 1
    clock.advance(1.0)
    assert get(server, "/api/profiles").status_code == 500


def test_an_echo_key_fault_quotes_the_authorization_header(server: FakeKlaviyo) -> None:
    server.add_fault("status", "profiles:list", status=400, echo_key=True)
    response = get(server, "/api/profiles")
    assert response.status_code == 400
    assert the_error(response)["detail"] == (
        f"scripted fault; request key=Klaviyo-API-Key {API_KEY}"
    )


# ----- numbers ------------------------------------------------------------------------


def test_numbers_are_written_from_decimal_exactly_never_through_float(
    server: FakeKlaviyo,
) -> None:
    server.add_profile(
        "ann@example.com",
        {
            "balance": Decimal("10.50"),
            "long": Decimal("0.1000000000000000055511151231257827"),
            "whole": Decimal("12"),
            "count": 3,
            "flag": True,
        },
    )
    text = get(server, "/api/profiles").text
    assert '"balance":10.50' in text
    assert '"long":0.1000000000000000055511151231257827' in text
    assert '"whole":12,' in text and '"count":3,' in text and '"flag":true' in text
    props = json.loads(text, parse_float=Decimal)["data"][0]["attributes"]["properties"]
    assert props["long"] == Decimal("0.1000000000000000055511151231257827")


# ----- bulk jobs advance with time ----------------------------------------------------


def test_a_job_is_queued_then_processing_then_complete_as_the_servers_clock_moves(
    server: FakeKlaviyo, clock: ServerClock
) -> None:
    created = post(server, JOBS, import_job({"email": "a@example.com"}))
    assert created.status_code == 202
    job = created.json()["data"]
    assert job["attributes"]["status"] == "queued"

    def status() -> str:
        body = get(server, f"{JOBS}/{job['id']}").json()
        value: str = body["data"]["attributes"]["status"]
        return value

    clock.advance(1.9)
    assert status() == "queued"
    clock.advance(0.2)
    assert status() == "processing"
    clock.advance(2.8)
    assert status() == "processing"
    clock.advance(0.2)
    assert status() == "complete"
    done = get(server, f"{JOBS}/{job['id']}").json()["data"]["attributes"]
    assert done["completed_count"] == 1 and done["failed_count"] == 0


def test_a_job_is_applied_when_its_time_comes_even_if_nobody_polls_it(
    server: FakeKlaviyo, clock: ServerClock
) -> None:
    body = import_job({"email": "ann@example.com", "properties": {"balance": 10.5}})
    post(server, JOBS, body)
    assert get(server, "/api/profiles").json()["data"] == []
    clock.advance(5.0)
    # Never polled: the listing shows the imported profile all the same.
    listed = get(server, "/api/profiles").json()["data"]
    assert [p["attributes"]["email"] for p in listed] == ["ann@example.com"]
    assert listed[0]["attributes"]["properties"] == {"balance": 10.5}
    profile = server.profile_by_email("ann@example.com")
    assert profile is not None and profile.properties == {"balance": Decimal("10.5")}


def test_a_profile_inspected_by_a_test_sees_due_jobs_without_any_request(
    server: FakeKlaviyo, clock: ServerClock
) -> None:
    server.add_profile("bob@example.com", {"balance": 1, "other": "kept"})
    post(server, JOBS, import_job({"email": "bob@example.com", "properties": {"balance": 2}}))
    clock.advance(10.0)
    bob = server.profile_by_email("bob@example.com")
    assert bob is not None and bob.properties == {"balance": 2, "other": "kept"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/events",
            {"data": {"type": "event", "attributes": {"properties": {}, "metric": "x"}}},
        ),
        (
            "/api/events",
            {"data": {"type": "event", "attributes": {"properties": {}, "profile": 1}}},
        ),
        (
            "/api/event-bulk-create-jobs",
            {
                "data": {
                    "type": "event-bulk-create-job",
                    "attributes": {"events-bulk-create": {"data": [{"attributes": {"events": 7}}]}},
                }
            },
        ),
    ],
    ids=["metric-not-an-object", "profile-not-an-object", "events-not-a-list"],
)
def test_a_malformed_event_document_is_a_400_not_a_server_error(
    server: FakeKlaviyo, path: str, body: dict[str, Any]
) -> None:
    response = post(server, path, body)
    assert response.status_code == 400
    assert the_error(response)["code"] == "invalid"
