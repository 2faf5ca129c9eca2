"""Delivery: every pending event reaches every enabled sink, in order per member, with retries,
dead letters and requeue; the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from tests.events.receiver import Receiver, running_receiver
from tests.ledger.conftest import ZONE
from tests.servers.klaviyo_server import FakeKlaviyo
from tests.servers.shopify_server import FakeShopify

from memberkit.config import Secret
from memberkit.errors import LockedError
from memberkit.events import queue
from memberkit.events.deliver import LOCK_NAME, Deliverer, DeliveryOptions, deliver
from memberkit.events.sinks.flow import FlowSink
from memberkit.events.sinks.klaviyo import KlaviyoSink
from memberkit.events.sinks.webhooks import WebhookSink
from memberkit.events.types import ALL_EVENT_TYPES
from memberkit.integrations.klaviyo import KlaviyoClient, RetryPolicy
from memberkit.integrations.shopify import ShopifyClient
from memberkit.secrets import forget_secrets
from memberkit.services.ledger import points, tiers
from memberkit.services.ledger.members import create_member
from memberkit.store.database import Database
from memberkit.store.locks import job_lock
from memberkit.store.models import OutboxDelivery

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
ACTOR = "cli:jo"
SECRET = "whsec_test_secret_0123456789"
KLAVIYO_KEY = "pk_test_key"
FAST = DeliveryOptions(max_attempts=3, retry_delay_ms=1000, batch_size=50)


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(SECRET) as r:
        yield r


def webhook(receiver: Receiver) -> WebhookSink:
    return WebhookSink(receiver.url, secret=Secret(SECRET), event_types=ALL_EVENT_TYPES)


class Clock:
    """A settable clock for next_attempt_at."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def members_with_points(db: Database, count: int, each: int = 2) -> list[int]:
    ids = []
    for n in range(count):
        member = create_member(
            db, actor=ACTOR, email=f"m{n}@example.com", shopify_id=str(9000 + n), now=NOW
        )
        for k in range(each):
            points.add_points(db, actor=ACTOR, member=member, points=10 + k, zone=ZONE, now=NOW)
        ids.append(member)
    return ids


def test_a_webhook_gets_every_event_signed_with_member_amounts_and_balance(
    db: Database, receiver: Receiver
) -> None:
    (member,) = members_with_points(db, 1)
    report = deliver(db, [webhook(receiver)], options=FAST)
    assert receiver.bad_signatures == 0
    types = [r["type"] for r in receiver.received]
    assert types == ["profile/updated", "points/added", "points/added"]
    added = receiver.received[2]
    assert set(added) >= {"id", "type", "time", "member", "points", "balance_after", "source"}
    assert added["member"] == {"id": member, "email": "m0@example.com", "shopify_id": "9000"}
    assert (added["points"], added["balance_after"]) == (11, 21)
    assert report.delivered == 3
    # Nothing left: a second run sends nothing again.
    deliver(db, [webhook(receiver)], options=FAST)
    assert len(receiver.received) == 3


def test_a_failed_event_holds_back_its_members_later_events_but_not_others(
    db: Database, receiver: Receiver
) -> None:
    first, second = members_with_points(db, 2)
    events = [e.id for e in _events(db)]
    blocked = events[1]  # the first member's first points/added
    receiver.fail_ids.add(blocked)
    clock = Clock()
    Deliverer(db, [webhook(receiver)], options=FAST, clock=clock).run()
    got = receiver.ids()
    assert blocked not in got and events[2] not in got  # same member, later: waits
    assert events[0] in got and set(events[3:]) <= set(got)  # the other member flows
    receiver.fail_ids.clear()
    Deliverer(db, [webhook(receiver)], options=FAST, clock=clock).run()
    assert blocked not in receiver.ids()  # its retry is not due yet
    clock.now += dt.timedelta(seconds=2)
    Deliverer(db, [webhook(receiver)], options=FAST, clock=clock).run()
    first_member = [r["id"] for r in receiver.received if r["member"]["id"] == first]
    assert first_member == sorted(first_member) and len(first_member) == 3
    assert second


def test_after_max_attempts_an_event_is_dead_listed_and_can_be_requeued(
    db: Database, receiver: Receiver
) -> None:
    members_with_points(db, 1, each=0)
    receiver.fail_all = True
    clock = Clock()
    for _ in range(FAST.max_attempts):
        Deliverer(db, [webhook(receiver)], options=FAST, clock=clock).run()
        clock.now += dt.timedelta(hours=1)
    (dead,) = queue.dead_deliveries(db)
    assert dead.attempts == 3 and "503" in (dead.last_error or "")
    (state,) = queue.status(db, {webhook(receiver).name: ALL_EVENT_TYPES})
    assert (state.pending, state.dead, state.delivered) == (0, 1, 0)
    receiver.fail_all = False
    assert queue.requeue(db, event_id=dead.event_id) == 1
    Deliverer(db, [webhook(receiver)], options=FAST, clock=clock).run()
    assert receiver.ids() == [dead.event_id]
    assert queue.dead_deliveries(db) == []


def test_status_counts_unqueued_events_as_pending_with_the_oldest_age(
    db: Database, receiver: Receiver
) -> None:
    members_with_points(db, 2)
    name = webhook(receiver).name
    (state,) = queue.status(db, {name: ALL_EVENT_TYPES})
    assert state.to_json(NOW + dt.timedelta(minutes=5))["pending"] == 6
    assert state.to_json(NOW + dt.timedelta(minutes=5))["oldest_pending_age_seconds"] == 300.0


def _events(db: Database) -> list[queue.QueuedEvent]:
    with db.write() as session:
        queue_name = "probe"
        queue.enqueue(db, queue_name, ALL_EVENT_TYPES)
    with db.read() as session:
        return queue.claim(session, db, "probe", limit=1000)


def klaviyo_sink(fake: FakeKlaviyo, **kwargs: object) -> KlaviyoSink:
    client = KlaviyoClient(
        api_key=Secret(KLAVIYO_KEY), base_url=fake.url, retry=RetryPolicy(limit=2, delay_ms=10)
    )
    return KlaviyoSink(client, event_types=ALL_EVENT_TYPES, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def klaviyo() -> Iterator[FakeKlaviyo]:
    with FakeKlaviyo(job_queued_seconds=0.01, job_processing_seconds=0.02) as fake:
        yield fake
    assert fake.internal_errors == []


def test_klaviyo_counts_each_event_once_even_when_it_is_sent_again(
    db: Database, klaviyo: FakeKlaviyo
) -> None:
    members_with_points(db, 8)  # 24 events: bulk jobs
    sink = klaviyo_sink(klaviyo, metric_names={"points/added": "Points Added"})
    deliver(db, [sink], options=FAST)
    assert len(klaviyo.events) == 24
    assert sink.stats["bulk_jobs"] >= 1
    # A crash after sending and before recording: everything goes out again.
    with db.write() as session:
        session.execute(update(OutboxDelivery).values(state="pending", attempts=0))
    deliver(
        db, [klaviyo_sink(klaviyo, metric_names={"points/added": "Points Added"})], options=FAST
    )
    assert len(klaviyo.events) == 24
    metrics = {key[0] for key in klaviyo.events}
    assert metrics == {"Points Added", "profile/updated"}
    uniques = sorted(int(key[2]) for key in klaviyo.events)
    assert uniques == [e.id for e in _events(db)]


def test_klaviyo_profiles_get_points_balance_expiring_and_tier(
    db: Database, klaviyo: FakeKlaviyo
) -> None:
    tiers.add_tier(db, name="Gold", rank=1)
    member = create_member(db, actor=ACTOR, email="ann@example.com", now=NOW)
    points.add_points(
        db,
        actor=ACTOR,
        member=member,
        points=40,
        expires_on=dt.date(2027, 4, 1),
        zone=ZONE,
        now=NOW,
    )
    points.add_points(
        db,
        actor=ACTOR,
        member=member,
        points=25,
        expires_on=dt.date(2027, 6, 1),
        zone=ZONE,
        now=NOW,
    )
    tiers.set_member_tier(db, actor=ACTOR, member=member, tier="Gold", reason="test", now=NOW)
    deliverer = Deliverer(db, [klaviyo_sink(klaviyo)], options=FAST, clock=Clock())
    report = deliverer.run()
    assert report.sinks["klaviyo"].profiles_updated == 1
    profile = klaviyo.profile_by_email("ann@example.com")
    assert profile is not None
    props = profile.properties
    assert props["points_balance"] == 65
    assert props["points_expiring_amount"] == 40
    assert props["points_expiring_date"] == "2027-04-01"
    assert props["vip_tier"] == "Gold"


def test_a_refused_klaviyo_key_stops_the_sink_without_spending_attempts(
    db: Database, klaviyo: FakeKlaviyo
) -> None:
    members_with_points(db, 1)
    client = KlaviyoClient(api_key=Secret("pk_wrong_key_123456"), base_url=klaviyo.url)
    report = deliver(db, [KlaviyoSink(client, event_types=ALL_EVENT_TYPES)], options=FAST)
    assert report.failed and report.sinks["klaviyo"].stopped
    with db.read() as session:
        attempts = set(session.scalars(select(OutboxDelivery.attempts)))
    assert attempts == {0}


def test_flow_gets_one_trigger_per_event_type_with_a_handle(db: Database) -> None:
    with FakeShopify(flow_handles={"points-added"}) as shop:
        members_with_points(db, 2)
        create_member(db, actor=ACTOR, email="no-shopify@example.com", now=NOW)
        client = ShopifyClient(
            shop=shop.shop, access_token=Secret("shpat_test_token_0123456789"), base_url=shop.url
        )
        report = deliver(db, [FlowSink(client, {"points/added": "points-added"})], options=FAST)
        assert len(shop.flow_triggers) == 4
        assert {t["handle"] for t in shop.flow_triggers} == {"points-added"}
        first = shop.flow_triggers[0]["payload"]
        assert first["customer_id"] == 9000 and first["type"] == "points/added"
        assert report.sinks["shopify_flow"].queued == 4  # profile/updated is not queued


def test_on_sqlite_a_second_deliverer_is_refused(db: Database, receiver: Receiver) -> None:
    if db.is_postgresql:
        pytest.skip("PostgreSQL deliverers share the work instead")
    with job_lock(db, LOCK_NAME, command="memberkit events deliver"), pytest.raises(LockedError):
        deliver(db, [webhook(receiver)], options=FAST)


def test_several_workers_deliver_everything_once_in_member_order(
    db: Database, receiver: Receiver
) -> None:
    ids = members_with_points(db, 12, each=4)
    options = DeliveryOptions(max_attempts=3, retry_delay_ms=1000, batch_size=7)
    deliver(db, [webhook(receiver)], options=options, workers=4)
    got = receiver.ids()
    assert sorted(got) == sorted(set(got)) and len(got) == 12 * 5
    for member in ids:
        mine = [r["id"] for r in receiver.received if r["member"]["id"] == member]
        assert mine == sorted(mine)
