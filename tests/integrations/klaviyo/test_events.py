"""The events client: single events, bulk jobs within limits, unique_id makes retries safe."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.integrations.klaviyo.helpers import SleepRecorder, make_client
from tests.servers.klaviyo_server import FakeKlaviyo

from memberkit.integrations.klaviyo import Event, EventsClient
from memberkit.integrations.klaviyo.events import bulk_bodies


def test_an_event_is_sent_with_metric_profile_time_and_unique_id(klaviyo: FakeKlaviyo) -> None:
    event = Event(
        "Points Earned",
        email="ann@example.com",
        properties={"points": 10, "order": "#1001"},
        time=dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC),
        value=Decimal("12.50"),
        unique_id="order-1001-points",
    )
    with make_client(klaviyo) as client:
        EventsClient(client).send(event)
    assert len(klaviyo.events) == 1
    stored = next(iter(klaviyo.events.values()))
    assert stored["metric"] == "Points Earned"
    assert stored["unique_id"] == "order-1001-points"
    assert stored["time"] == "2026-11-22T09:00:00+00:00"
    assert stored["value"] == Decimal("12.50")


def test_a_retried_event_is_counted_once(klaviyo: FakeKlaviyo) -> None:
    # The first attempt is processed, but the answer never arrives.
    klaviyo.add_fault("slow", "events:create", delay=0.5)
    event = Event("Points Earned", external_id="cust-7", properties={"points": 5})
    with make_client(klaviyo, sleep=SleepRecorder(), timeout_seconds=0.2) as client:
        EventsClient(client).send(event)
        EventsClient(client).send(event)  # a caller's own retry, same unique_id
    assert len(klaviyo.requests_to("events:create")) >= 2
    assert len(klaviyo.events) == 1


def test_bulk_events_are_split_at_1000_a_request(klaviyo: FakeKlaviyo) -> None:
    events = [
        Event("Tier Changed", email=f"m{i % 300}@example.com", properties={"tier": "gold"})
        for i in range(2500)
    ]
    assert [len(batch) for batch, _ in bulk_bodies(events)] == [1000, 1000, 500]
    with make_client(klaviyo) as client:
        jobs = EventsClient(client).send_bulk(events)
    assert len(jobs) == 3
    assert len(klaviyo.events) == 2500


def test_bulk_events_stay_under_five_megabytes() -> None:
    events = [
        Event("Big", email=f"m{i}@example.com", properties={"blob": "x" * 20_000})
        for i in range(600)
    ]
    bodies = bulk_bodies(events)
    assert len(bodies) > 1
    assert all(len(body) <= 5_000_000 for _, body in bodies)
    assert sum(len(batch) for batch, _ in bodies) == 600


def test_the_server_refuses_a_bulk_job_over_1000_events(klaviyo: FakeKlaviyo) -> None:
    import pytest

    from memberkit.integrations.klaviyo import Endpoint, KlaviyoRequestError

    events = [Event("Big", email=f"m{i}@example.com") for i in range(1001)]
    _batch, body = bulk_bodies(events, max_events=2000)[0]
    with make_client(klaviyo) as client, pytest.raises(KlaviyoRequestError) as caught:
        client.post(Endpoint.EVENT_BULK_CREATE, "/api/event-bulk-create-jobs", body)
    assert caught.value.status == 413
    assert "at most 1000 events" in caught.value.message
