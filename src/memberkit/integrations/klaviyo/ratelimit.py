"""Klaviyo's per-endpoint rate limits, and a client-side limiter that keeps under them.

Klaviyo limits each endpoint with two windows: a burst (requests per second)
and a steady rate (requests per minute). A big run that only reacts to 429s
wastes its retry budget and the account's quota, so every request first asks
the endpoint's ``RateLimiter`` for a slot.

The limiter keeps a sliding log per endpoint and lets a request go only when
fewer than ``burst`` requests are in flight or were answered in the last second,
and fewer than ``steady`` in the last minute. Counting a request from its answer
(not its sending) means varying network delays can never make Klaviyo see one
request too many; small margins (50 ms, 200 ms) cover clock granularity.
It is thread-safe: parallel fetch slices share one limiter per endpoint.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Endpoint(StrEnum):
    """The Klaviyo endpoints memberkit calls, each with its own rate limit bucket."""

    PROFILES_LIST = "profiles:list"  # GET /api/profiles
    SEGMENT_PROFILES = "segments:profiles"  # GET /api/segments/{id}/profiles
    BULK_IMPORT_CREATE = "profile-bulk-import-jobs:create"  # POST /api/profile-bulk-import-jobs
    BULK_IMPORT_GET = "profile-bulk-import-jobs:get"  # GET .../{id} and .../{id}/import-errors
    EVENTS_CREATE = "events:create"  # POST /api/events
    EVENT_BULK_CREATE = "event-bulk-create-jobs:create"  # POST /api/event-bulk-create-jobs


@dataclass(frozen=True)
class RateLimit:
    """At most ``burst`` requests in any second and ``steady`` in any minute."""

    burst: int
    steady: int


#: Klaviyo's documented tiers for revision 2026-07-15 (the default ``klaviyo.revision``):
#: XL (75/s, 700/min) for profile listing, M (10/s, 150/min) for bulk jobs,
#: XXL (350/s, 3,500/min) for single events.
RATE_LIMITS: Final[dict[Endpoint, RateLimit]] = {
    Endpoint.PROFILES_LIST: RateLimit(burst=75, steady=700),
    Endpoint.SEGMENT_PROFILES: RateLimit(burst=75, steady=700),
    Endpoint.BULK_IMPORT_CREATE: RateLimit(burst=10, steady=150),
    Endpoint.BULK_IMPORT_GET: RateLimit(burst=10, steady=150),
    Endpoint.EVENTS_CREATE: RateLimit(burst=350, steady=3500),
    Endpoint.EVENT_BULK_CREATE: RateLimit(burst=10, steady=150),
}

#: Klaviyo's OAuth/API-key scope each endpoint needs (named in 403 messages).
REQUIRED_SCOPES: Final[dict[Endpoint, str]] = {
    Endpoint.PROFILES_LIST: "profiles:read",
    Endpoint.SEGMENT_PROFILES: "segments:read and profiles:read",
    Endpoint.BULK_IMPORT_CREATE: "profiles:write (and lists:write when adding to a list)",
    Endpoint.BULK_IMPORT_GET: "profiles:read",
    Endpoint.EVENTS_CREATE: "events:write",
    Endpoint.EVENT_BULK_CREATE: "events:write",
}


class SlidingWindowLimiter:
    """Thread-safe limiter for one endpoint: burst per second and steady per minute.

    A request holds its slot from ``acquire()`` until ``release()`` (when its
    response has arrived), and its place in the windows is the release time.
    Klaviyo counts the request somewhere between the two, so however long it
    travels, Klaviyo never sees more than the limit in any window.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        margin: float = 0.05,
        steady_margin: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        scale: float = 1.0,
    ) -> None:
        self.limit = limit
        # ``scale`` shrinks both windows for tests; the margins are real time.
        self._second = 1.0 * scale + margin
        self._minute = 60.0 * scale + steady_margin
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Release times within the last minute, in order; requests still in flight.
        self._done: list[float] = []
        self._in_flight = 0

    def _wait_needed(self, now: float) -> float:
        done = self._done
        expired = bisect.bisect_right(done, now - self._minute)
        if expired:
            del done[:expired]
        wait = 0.0
        for window, allowed, first in (
            (self._minute, self.limit.steady, 0),
            (self._second, self.limit.burst, bisect.bisect_right(done, now - self._second)),
        ):
            counted = len(done) - first + self._in_flight
            if counted >= allowed:
                oldest_to_expire = first + counted - allowed
                if oldest_to_expire < len(done):
                    wait = max(wait, done[oldest_to_expire] + window - now)
                else:  # the requests in flight alone fill the window: wait for one
                    wait = max(wait, _IN_FLIGHT_POLL)
        return wait

    def acquire(self) -> float:
        """Block until a request may be sent, hold a slot, and return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._in_flight += 1
                    return waited
            self._sleep(wait)
            waited += wait

    def release(self) -> None:
        """The request's response arrived (or it failed): its slot counts from now."""
        with self._lock:
            self._in_flight -= 1
            self._done.append(self._clock())

    @contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


_IN_FLIGHT_POLL = 0.01


class RateLimiter:
    """One ``SlidingWindowLimiter`` per endpoint, from a limits table."""

    def __init__(
        self,
        limits: dict[Endpoint, RateLimit] | None = None,
        *,
        margin: float = 0.05,
        steady_margin: float = 0.2,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        table = RATE_LIMITS if limits is None else {**RATE_LIMITS, **limits}
        self._limiters = {
            endpoint: SlidingWindowLimiter(
                limit,
                margin=margin,
                steady_margin=steady_margin,
                scale=scale,
                clock=clock,
                sleep=sleep,
            )
            for endpoint, limit in table.items()
        }

    def acquire(self, endpoint: Endpoint) -> float:
        """Wait for a slot on ``endpoint``; return the seconds waited."""
        return self._limiters[endpoint].acquire()

    def release(self, endpoint: Endpoint) -> None:
        """The request on ``endpoint`` is answered (or failed)."""
        self._limiters[endpoint].release()

    def limit(self, endpoint: Endpoint) -> RateLimit:
        return self._limiters[endpoint].limit
