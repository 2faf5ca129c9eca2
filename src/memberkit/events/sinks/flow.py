"""The Shopify Flow sink: ``flowTriggerReceive(handle, payload)`` per event.

The handle comes from ``events.flow.handles`` by event type (types without a
handle are never queued for this sink). The payload is the event document
(``payload.event_document``) plus ``customer_id``, the member's numeric
Shopify id, so a Flow can use the customer. A member without a Shopify id is
skipped (recorded as delivered with a note: Flow could not link it to anyone).
Shopify's userErrors (an unknown handle, a payload over 50 KB) are refusals
retrying cannot fix: the event is dead at once, with Shopify's message.
At least once: a Flow may see an event twice after a crash; ``id`` is in the payload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memberkit.events.payload import event_document, member_shopify_id
from memberkit.events.queue import Outcome, QueuedEvent
from memberkit.events.sinks import MemberGate, SinkStopped
from memberkit.integrations.shopify import (
    ShopifyAuthError,
    ShopifyClient,
    ShopifyError,
    flow_trigger_receive,
)

SINK_NAME = "shopify_flow"


class FlowSink:
    """Starts Shopify Flow triggers."""

    name = SINK_NAME

    def __init__(self, client: ShopifyClient, handles: Mapping[str, str]) -> None:
        self.client = client
        self.handles = dict(handles)
        self.event_types = tuple(sorted(self.handles))

    def close(self) -> None:
        self.client.close()

    def send(self, events: Sequence[QueuedEvent]) -> dict[int, Outcome]:
        gate = MemberGate()
        outcomes: dict[int, Outcome] = {}
        for event in events:
            if not gate.allows(event):
                continue
            outcomes[event.id] = gate.apply(event, self._trigger(event))
        return outcomes

    def _trigger(self, event: QueuedEvent) -> Outcome:
        handle = self.handles.get(event.event_type)
        if handle is None:
            return Outcome.ok(f"skipped: no Flow handle for {event.event_type}")
        shopify_id = member_shopify_id(event)
        if shopify_id is None:
            return Outcome.ok("skipped: the member has no Shopify id")
        customer_id: int | str = int(shopify_id) if shopify_id.isdigit() else shopify_id
        payload = {"customer_id": customer_id, **event_document(event)}
        try:
            errors = flow_trigger_receive(self.client, handle, payload)
        except ShopifyAuthError as exc:
            raise SinkStopped(exc) from exc
        except ShopifyError as exc:
            return Outcome.failed(str(exc))
        if errors:
            return Outcome.failed(
                "Shopify refused the Flow trigger: " + "; ".join(str(e) for e in errors),
                permanent=True,
            )
        return Outcome.ok()
