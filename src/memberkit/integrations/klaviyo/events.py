"""Sending events to Klaviyo: one at a time, or in bulk jobs.

- ``EventsClient.send(event)``: ``POST /api/events`` (350/s, 3,500/min);
- ``EventsClient.send_bulk(events)``: ``POST /api/event-bulk-create-jobs``, grouped by
  profile, at most 1,000 events and 5 MB a request (10/s, 150/min).

Every ``Event`` carries a ``unique_id`` (a new UUID unless given): Klaviyo counts an
event with the same metric, profile and ``unique_id`` once, so a retried request
(after a timeout or a dropped connection) can never count an event twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from memberkit.integrations.klaviyo.client import KlaviyoClient
from memberkit.integrations.klaviyo.jsonapi import dumps
from memberkit.integrations.klaviyo.ratelimit import Endpoint

MAX_EVENTS_PER_JOB = 1_000
MAX_REQUEST_BYTES = 5_000_000


@dataclass(frozen=True)
class Event:
    """One event: a metric happening to a profile (by email and/or external id)."""

    metric: str
    email: str | None = None
    external_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    time: dt.datetime | None = None
    value: Decimal | None = None
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if not self.metric:
            raise ValueError("an event needs a metric name")
        if not (self.email or self.external_id):
            raise ValueError("an event needs the profile's email or external id")

    def profile_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if self.email:
            attributes["email"] = self.email
        if self.external_id:
            attributes["external_id"] = self.external_id
        return attributes

    def attributes(self, *, with_profile: bool) -> dict[str, Any]:
        """The event's JSON:API attributes (the profile only for single events)."""
        attributes: dict[str, Any] = {
            "properties": dict(self.properties),
            "metric": {"data": {"type": "metric", "attributes": {"name": self.metric}}},
            "unique_id": self.unique_id,
        }
        if self.time is not None:
            moment = self.time if self.time.tzinfo else self.time.replace(tzinfo=dt.UTC)
            attributes["time"] = moment.astimezone(dt.UTC).isoformat()
        if self.value is not None:
            attributes["value"] = self.value
        if with_profile:
            attributes["profile"] = {
                "data": {"type": "profile", "attributes": self.profile_attributes()}
            }
        return attributes


def event_body(event: Event) -> dict[str, Any]:
    return {"data": {"type": "event", "attributes": event.attributes(with_profile=True)}}


def bulk_bodies(
    events: Sequence[Event],
    *,
    max_events: int = MAX_EVENTS_PER_JOB,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> list[tuple[list[Event], bytes]]:
    """Events split into bulk-job bodies of at most ``max_events`` and ``max_bytes``."""
    out: list[tuple[list[Event], bytes]] = []
    batch: list[Event] = []

    def encode(batch: list[Event]) -> bytes:
        groups: dict[tuple[str, str], list[Event]] = {}
        for event in batch:
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
        return dumps(body).encode("utf-8")

    # Estimate each event's share of the body on its own (with its profile, an
    # overestimate once events are grouped by profile) rather than re-encoding the batch.
    envelope = 200
    estimate = envelope
    for event in events:
        size = len(dumps(event.attributes(with_profile=True)).encode("utf-8")) + 100
        if envelope + size > max_bytes:
            raise ValueError(f"event {event.unique_id} alone is over {max_bytes} bytes")
        if batch and (len(batch) >= max_events or estimate + size > max_bytes):
            out.append((batch, encode(batch)))
            batch, estimate = [], envelope
        batch.append(event)
        estimate += size
    if batch:
        out.append((batch, encode(batch)))
    return out


class EventsClient:
    """Sends events through a ``KlaviyoClient`` (its rate limits and retries)."""

    def __init__(self, client: KlaviyoClient) -> None:
        self.client = client

    def send(self, event: Event) -> None:
        """``POST /api/events``; a retry of the same ``unique_id`` is counted once."""
        self.client.post(Endpoint.EVENTS_CREATE, "/api/events", event_body(event))

    def send_bulk(self, events: Sequence[Event]) -> list[str]:
        """``POST /api/event-bulk-create-jobs`` in as few requests as allowed; the job ids."""
        job_ids: list[str] = []
        for _batch, body in bulk_bodies(events):
            answer = self.client.post(
                Endpoint.EVENT_BULK_CREATE, "/api/event-bulk-create-jobs", body
            )
            data = answer.get("data")
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                job_ids.append(data["id"])
        return job_ids
