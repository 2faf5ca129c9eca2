"""The event as every sink receives it: id, type, time, member, then the change's fields.

``{"id": 41, "type": "points/added", "time": "2026-12-02T07:00:00+00:00",
"member": {"id": 7, "email": "ann@example.com", "shopify_id": "7001"},
"points": 50, "source": "order", "balance_after": 350, ...}``: the outbox
payload (see ``domain.events``) flattened under the envelope, so a Klaviyo
flow, a Shopify Flow or a webhook receiver reads ``balance_after`` directly.
``id`` is the de-duplication key (Klaviyo's ``unique_id``).
"""

from __future__ import annotations

from typing import Any

from memberkit.events.queue import QueuedEvent


def event_document(event: QueuedEvent) -> dict[str, Any]:
    """The JSON object a sink sends for ``event``."""
    fields = {k: v for k, v in event.payload.items() if k != "member"}
    member = event.payload.get("member")
    if not isinstance(member, dict):
        member = {"id": event.member_id, "email": None, "shopify_id": None}
    return {
        "id": event.id,
        "type": event.event_type,
        "time": event.created_at.isoformat(),
        "member": member,
        **fields,
    }


def member_email(event: QueuedEvent) -> str | None:
    member = event.payload.get("member")
    value = member.get("email") if isinstance(member, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def member_shopify_id(event: QueuedEvent) -> str | None:
    member = event.payload.get("member")
    value = member.get("shopify_id") if isinstance(member, dict) else None
    return str(value) if value not in (None, "") else None
