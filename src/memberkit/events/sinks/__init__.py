"""Where events go: each sink sends a batch of claimed events and says what became of each.

A sink has a ``name`` (its key in ``outbox_deliveries.sink``), the event types it
takes (``event_types``: others are never queued for it), and ``send(events)``
returning an ``Outcome`` per event id. Sinks keep each member's events in
order: once one of a member's events fails, the member's later events in the
batch are not attempted. ``SinkStopped`` ends the sink's delivery for this run
without counting attempts (its credentials were refused: retrying cannot help
until someone fixes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from memberkit.errors import MemberkitError
from memberkit.events.queue import Outcome, QueuedEvent


class SinkStopped(Exception):
    """The sink cannot deliver anything now (e.g. its key was refused)."""

    def __init__(self, error: MemberkitError) -> None:
        super().__init__(str(error))
        self.error = error


class Sink(Protocol):
    """A destination for events."""

    name: str
    event_types: tuple[str, ...]

    def send(self, events: Sequence[QueuedEvent]) -> dict[int, Outcome]:
        """Deliver ``events`` (oldest first); an outcome for each attempted id."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class MemberGate:
    """Keeps a member's events in order within a batch: after one fails, the rest wait."""

    def __init__(self) -> None:
        self._stopped: set[int] = set()

    def allows(self, event: QueuedEvent) -> bool:
        return event.member_id is None or event.member_id not in self._stopped

    def stop(self, event: QueuedEvent) -> None:
        if event.member_id is not None:
            self._stopped.add(event.member_id)

    def apply(self, event: QueuedEvent, outcome: Outcome) -> Outcome:
        """Note ``outcome`` (stopping the member when it failed) and return it."""
        if not outcome.delivered:
            self.stop(event)
        return outcome
