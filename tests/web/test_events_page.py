"""The Events page: each sink's queue and the dead deliveries, retried by an operator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.events.receiver import Receiver, running_receiver
from tests.ledger.conftest import ZONE
from tests.web.conftest import csrf_of, login

from memberkit.config import Settings, load_settings
from memberkit.events import queue
from memberkit.events.deliver import DeliveryOptions, deliver
from memberkit.events.sinks.factory import make_sinks
from memberkit.services.ledger import points
from memberkit.services.ledger.members import create_member
from memberkit.store.database import open_database
from memberkit.web.app import create_app

SECRET = "whsec_events_page_0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(SECRET) as r:
        yield r


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("MEMBERKIT_WEBHOOK_SECRET", SECRET)
    path = tmp_path / "memberkit.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        "[events]\nmax_attempts = 1\n"
        f'[events.webhooks]\nenabled = true\nurls = ["{receiver.url}"]\n',
        encoding="utf-8",
    )
    return load_settings(path, environ={})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, start_worker=False), follow_redirects=False) as c:
        yield c


def deliver_once(settings: Settings) -> None:
    db = open_database(settings.database.url)
    sinks = make_sinks(settings)
    try:
        deliver(db, sinks, options=DeliveryOptions(max_attempts=1, retry_delay_ms=0), once=True)
    finally:
        for sink in sinks:
            sink.close()
        db.dispose()


@pytest.fixture
def dead_events(settings: Settings, receiver: Receiver) -> list[int]:
    """Ann's two events (profile, points) refused by the webhook receiver: dead."""
    db = open_database(settings.database.url)
    member = create_member(db, actor="test:suite", email="ann@example.com", shopify_id="7001")
    points.add_points(db, actor="test:suite", member=member, points=30, zone=ZONE)
    receiver.fail_all = True
    deliver_once(settings)
    dead = [d.event_id for d in queue.dead_deliveries(db)]
    db.dispose()
    assert len(dead) == 2
    receiver.fail_all = False
    return dead


def test_viewers_see_each_sink_and_the_dead_deliveries_with_their_error(
    client: TestClient, people: dict[str, str], dead_events: list[int]
) -> None:
    login(client, people["viewer"])
    page = client.get("/events")
    assert page.status_code == 200
    assert "webhook http://127.0.0.1" in page.text
    assert "503" in page.text
    for event_id in dead_events:
        assert f'name="event_id" value="{event_id}"' not in page.text  # no Retry for viewers
    assert "Retry all dead" not in page.text
    assert client.post("/events/retry", data={"csrf_token": csrf_of(page.text)}).status_code == 403


def test_an_operator_retries_one_event_then_all_and_the_deliverer_sends_them(
    client: TestClient,
    people: dict[str, str],
    dead_events: list[int],
    settings: Settings,
    receiver: Receiver,
) -> None:
    token = login(client, people["operator"])
    # Without the CSRF token nothing is requeued.
    assert client.post("/events/retry", data={"event_id": str(dead_events[0])}).status_code == 403
    page = client.get("/events")
    assert "Retry all dead" in page.text
    first = client.post(
        "/events/retry", data={"event_id": str(dead_events[0]), "csrf_token": token}
    )
    assert first.status_code == 303 and first.headers["location"] == "/events?requeued=1"
    assert (
        client.post("/events/retry", data={"event_id": "999", "csrf_token": token}).status_code
        == 404
    )
    huge = {"event_id": "9" * 5000, "csrf_token": token}
    assert client.post("/events/retry", data=huge).status_code == 404
    rest = client.post("/events/retry", data={"csrf_token": token})
    assert rest.headers["location"] == "/events?requeued=1"
    assert "1 dead delivery requeued" in client.get(rest.headers["location"]).text
    deliver_once(settings)
    assert sorted(receiver.ids()) == sorted(dead_events)
    assert "No dead deliveries." in client.get("/events").text
