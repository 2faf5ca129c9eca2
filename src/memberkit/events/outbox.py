"""Reading the outbox: ``list_events`` for ``memberkit events list``.

Events are written by the unit of work (``store.unit_of_work``) in the same
transaction as the change they report, so the two commit together or not at
all (the transactional outbox). Delivery to sinks (``outbox_deliveries``) is
another module's job.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from memberkit.store.database import Database
from memberkit.store.models import OutboxEvent


@dataclass(frozen=True)
class EventView:
    """An outbox event as ``events list`` shows it."""

    id: int
    event_type: str
    member_id: int | None
    payload: dict[str, Any]
    created_at: dt.datetime
    actor: str
    batch_id: int | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = dict(self.__dict__)
        data["created_at"] = self.created_at.isoformat()
        return data


def list_events(db: Database, *, limit: int = 50) -> list[EventView]:
    """The latest ``limit`` events, newest first."""
    with db.read() as session:
        return [
            EventView(
                id=row.id,
                event_type=row.event_type,
                member_id=row.member_id,
                payload=dict(json.loads(row.payload)),
                created_at=row.created_at,
                actor=row.actor,
                batch_id=row.batch_id,
            )
            for row in session.scalars(
                select(OutboxEvent).order_by(OutboxEvent.id.desc()).limit(limit)
            )
        ]
