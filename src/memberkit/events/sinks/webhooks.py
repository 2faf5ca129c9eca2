"""The webhook sink: each event POSTed as JSON to a URL, signed so a receiver can trust it.

Headers: ``X-Memberkit-Event-Id`` (de-duplicate on it: delivery is at least
once), ``X-Memberkit-Timestamp`` (Unix seconds) and ``X-Memberkit-Signature``,
the hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with ``MEMBERKIT_WEBHOOK_SECRET``.
A receiver recomputes it over the raw body and refuses an old timestamp (a
replay). A 2xx answer is delivered; anything else, or no answer, is retried.
One sink per URL (``webhook:<12 hex of the URL's SHA-256>``), so a receiver
that is down does not hold back the others.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence

import httpx

from memberkit.config import Secret
from memberkit.events.payload import event_document
from memberkit.events.queue import Outcome, QueuedEvent
from memberkit.events.sinks import MemberGate
from memberkit.secrets import redact, register_secret

SECRET_VARIABLE = "MEMBERKIT_WEBHOOK_SECRET"  # noqa: S105 - a variable name


def webhook_sink_name(url: str) -> str:
    """The sink's stable name for ``url``."""
    return "webhook:" + hashlib.sha256(url.encode()).hexdigest()[:12]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: hex HMAC-SHA256 of ``timestamp.body``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookSink:
    """POSTs signed events to one URL."""

    def __init__(
        self,
        url: str,
        *,
        secret: Secret,
        event_types: Sequence[str],
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        register_secret(secret.reveal())
        self.url = url
        self.name = webhook_sink_name(url)
        self.event_types = tuple(event_types)
        self._secret = secret
        self._clock = clock
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds), transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self._http.close()

    def send(self, events: Sequence[QueuedEvent]) -> dict[int, Outcome]:
        gate = MemberGate()
        outcomes: dict[int, Outcome] = {}
        for event in events:
            if not gate.allows(event):
                continue
            outcomes[event.id] = gate.apply(event, self._post(event))
        return outcomes

    def _post(self, event: QueuedEvent) -> Outcome:
        body = json.dumps(event_document(event), separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "memberkit",
            "X-Memberkit-Event-Id": str(event.id),
            "X-Memberkit-Timestamp": timestamp,
            "X-Memberkit-Signature": sign(self._secret.reveal(), timestamp, body),
        }
        try:
            response = self._http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome.failed(redact(f"{self.url}: {type(exc).__name__}: {exc}"))
        if 200 <= response.status_code < 300:
            return Outcome.ok()
        return Outcome.failed(
            redact(f"{self.url} answered HTTP {response.status_code}: {response.text[:200]}")
        )
