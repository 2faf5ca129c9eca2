"""The Klaviyo sink: events through the events API, and members' points on their profiles.

Events: ``unique_id`` is the outbox event id, so Klaviyo counts each event once
however often a crash makes us send it. The metric is ``events.klaviyo.metric_names``
for the type, else the type itself. The profile is the member's email, else
their Shopify id as ``external_id``; a member with neither is skipped (noted).

* Fewer than ``bulk_threshold`` events: one ``POST /api/events`` each.
* More: ``POST /api/event-bulk-create-jobs`` (at most 1,000 events and 5 MB a
  job). A job Klaviyo refuses (4xx) is re-sent one event at a time, so the one
  bad event is found and parked (dead, with Klaviyo's detail) and the rest
  delivered. A job that cannot get through (429/5xx after the client's retries)
  fails its events for a later retry, and the jobs after it wait (member order).
* A refused key (401/403) stops the sink for this run without counting attempts.

Profiles: ``sync_profiles(db, member_ids)`` writes ``points_balance``,
``points_expiring_amount``, ``points_expiring_date`` (the next date on which
points expire, and how many) and ``vip_tier`` through the bulk profile import,
after each delivery pass, for the members whose events went out.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import func, select

from memberkit.events.payload import event_document, member_email, member_shopify_id
from memberkit.events.queue import Outcome, QueuedEvent
from memberkit.events.sinks import MemberGate, SinkStopped
from memberkit.integrations.klaviyo import (
    BulkProfileUploader,
    Endpoint,
    Event,
    KlaviyoAuthError,
    KlaviyoClient,
    KlaviyoError,
    KlaviyoRequestError,
    ProfileUpdate,
)
from memberkit.integrations.klaviyo.events import (
    MAX_EVENTS_PER_JOB,
    MAX_REQUEST_BYTES,
    event_body,
)
from memberkit.store.database import Database
from memberkit.store.models import Lot, Member, Tier

log = logging.getLogger("memberkit.events.klaviyo")

SINK_NAME = "klaviyo"


class KlaviyoSink:
    """Sends events to Klaviyo and keeps members' points properties current."""

    name = SINK_NAME

    def __init__(
        self,
        client: KlaviyoClient,
        *,
        event_types: Sequence[str],
        metric_names: Mapping[str, str] | None = None,
        bulk_threshold: int = 10,
    ) -> None:
        self.client = client
        self.event_types = tuple(event_types)
        self.metric_names = dict(metric_names or {})
        self.bulk_threshold = bulk_threshold
        self.stats = {"bulk_jobs": 0, "single_events": 0}

    def close(self) -> None:
        self.client.close()

    def to_event(self, event: QueuedEvent) -> Event | None:
        """The Klaviyo event for ``event``; None when the member has no email or Shopify id."""
        email = member_email(event)
        external_id = None if email else member_shopify_id(event)
        if not (email or external_id):
            return None
        document = event_document(event)
        properties = {k: v for k, v in document.items() if k != "member"}
        return Event(
            metric=self.metric_names.get(event.event_type, event.event_type),
            email=email,
            external_id=external_id,
            properties=properties,
            time=event.created_at,
            unique_id=str(event.id),
        )

    def send(self, events: Sequence[QueuedEvent]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        sendable: list[tuple[QueuedEvent, Event]] = []
        for queued in events:
            klaviyo_event = self.to_event(queued)
            if klaviyo_event is None:
                outcomes[queued.id] = Outcome.ok("skipped: the member has no email or Shopify id")
            else:
                sendable.append((queued, klaviyo_event))
        try:
            if len(sendable) >= self.bulk_threshold:
                self._send_bulk(sendable, outcomes)
            else:
                self._send_singly(sendable, outcomes, MemberGate())
        except KlaviyoAuthError as exc:
            raise SinkStopped(exc) from exc
        return outcomes

    def _send_singly(
        self,
        items: Sequence[tuple[QueuedEvent, Event]],
        outcomes: dict[int, Outcome],
        gate: MemberGate,
    ) -> None:
        for queued, klaviyo_event in items:
            if not gate.allows(queued):
                continue
            try:
                self.client.post(Endpoint.EVENTS_CREATE, "/api/events", event_body(klaviyo_event))
                self.stats["single_events"] += 1
                outcome = Outcome.ok()
            except KlaviyoAuthError:
                raise
            except KlaviyoRequestError as exc:
                # Klaviyo refused this event itself: resending cannot help.
                outcome = Outcome.failed(str(exc), permanent=True)
            except KlaviyoError as exc:
                outcome = Outcome.failed(str(exc))
            outcomes[queued.id] = gate.apply(queued, outcome)

    def _send_bulk(
        self, items: Sequence[tuple[QueuedEvent, Event]], outcomes: dict[int, Outcome]
    ) -> None:
        for members, body in bulk_jobs(items):
            try:
                self.client.post(Endpoint.EVENT_BULK_CREATE, "/api/event-bulk-create-jobs", body)
                self.stats["bulk_jobs"] += 1
            except KlaviyoAuthError:
                raise
            except KlaviyoRequestError as exc:
                log.warning("Klaviyo refused a bulk event job (%s); sending its events singly", exc)
                self._send_singly(members, outcomes, MemberGate())
                continue
            except KlaviyoError as exc:
                for queued, _ in members:
                    outcomes[queued.id] = Outcome.failed(str(exc))
                # Later jobs may hold later events of the same members: they wait.
                return
            for queued, _ in members:
                outcomes[queued.id] = Outcome.ok()

    def sync_profiles(
        self,
        db: Database,
        member_ids: Iterable[int],
        *,
        today: dt.date,
        uploader: BulkProfileUploader | None = None,
    ) -> tuple[int, int]:
        """Write the points properties of ``member_ids``; (uploaded, failed)."""
        updates = profile_updates(db, member_ids, today=today)
        if not updates:
            return 0, 0
        uploader = uploader or BulkProfileUploader(self.client, poll_interval_seconds=0.5)
        report = uploader.upload(updates)
        for failure in report.failed[:20]:
            log.warning("profile %s not updated: %s", failure.profile.email, failure.reason)
        return len(report.uploaded), len(report.failed)


def _bulk_body(items: Sequence[tuple[QueuedEvent, Event]]) -> bytes:
    groups: dict[tuple[str, str], list[Event]] = {}
    for _, event in items:
        groups.setdefault((event.email or "", event.external_id or ""), []).append(event)
    data = [
        {
            "type": "event-bulk-create",
            "attributes": {
                "profile": {
                    "data": {"type": "profile", "attributes": group[0].profile_attributes()}
                },
                "events": {
                    "data": [
                        {"type": "event", "attributes": e.attributes(with_profile=False)}
                        for e in group
                    ]
                },
            },
        }
        for group in groups.values()
    ]
    body = {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {"events-bulk-create": {"data": data}},
        }
    }
    # Outbox payloads are plain JSON (ints, strings; money as strings): the standard
    # encoder is exact for them and many times faster than the Decimal-aware one.
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def bulk_jobs(
    items: Sequence[tuple[QueuedEvent, Event]],
    *,
    max_events: int = MAX_EVENTS_PER_JOB,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> list[tuple[list[tuple[QueuedEvent, Event]], bytes]]:
    """Events split into bulk-job bodies of at most ``max_events`` and ``max_bytes``."""
    jobs = []
    pending = list(items)
    while pending:
        part = pending[:max_events]
        body = _bulk_body(part)
        while len(body) > max_bytes and len(part) > 1:
            part = part[: len(part) // 2]
            body = _bulk_body(part)
        jobs.append((part, body))
        pending = pending[len(part) :]
    return jobs


def profile_updates(
    db: Database, member_ids: Iterable[int], *, today: dt.date
) -> list[ProfileUpdate]:
    """Each member's points properties (members without an email are left out)."""
    ids = sorted(set(member_ids))
    out: list[ProfileUpdate] = []
    with db.read() as session:
        for start in range(0, len(ids), 5000):
            part = ids[start : start + 5000]
            members = session.execute(
                select(Member.id, Member.email, Member.points_balance, Tier.name)
                .outerjoin(Tier, Tier.id == Member.tier_id)
                .where(Member.id.in_(part), Member.email.is_not(None))
            ).all()
            next_dates = dict(
                session.execute(
                    select(Lot.member_id, func.min(Lot.expires_on))
                    .where(
                        Lot.member_id.in_(part),
                        Lot.remaining > 0,
                        Lot.expires_on.is_not(None),
                        Lot.expires_on >= today,
                    )
                    .group_by(Lot.member_id)
                ).all()
            )
            amounts: dict[int, int] = {}
            if next_dates:
                for member_id, expires_on, remaining in session.execute(
                    select(Lot.member_id, Lot.expires_on, func.sum(Lot.remaining))
                    .where(Lot.member_id.in_(list(next_dates)), Lot.remaining > 0)
                    .group_by(Lot.member_id, Lot.expires_on)
                ).all():
                    if expires_on == next_dates.get(member_id):
                        amounts[member_id] = int(remaining)
            for member_id, email, balance, tier in members:
                expiring_on = next_dates.get(member_id)
                out.append(
                    ProfileUpdate(
                        key=member_id,
                        email=str(email),
                        properties={
                            "points_balance": int(balance),
                            "points_expiring_amount": amounts.get(member_id, 0),
                            "points_expiring_date": expiring_on.isoformat() if expiring_on else "",
                            "vip_tier": tier or "",
                        },
                    )
                )
    return out
