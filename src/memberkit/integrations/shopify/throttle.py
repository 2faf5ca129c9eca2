"""Shopify's cost-based rate limit, followed from what the server reports (never hard-coded).

Every Admin GraphQL answer carries ``extensions.cost``: the query's
``requestedQueryCost`` and the bucket's ``throttleStatus`` (``maximumAvailable``,
``currentlyAvailable``, ``restoreRate``). ``CostThrottle`` keeps the last status
and, before a request of a known cost, waits until the bucket will have refilled
enough to pay for it, so a long push runs at the restore rate instead of
bouncing off ``THROTTLED`` answers. Until the first answer arrives nothing is
known and requests go at once. Thread-safe: parallel pushes share one throttle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ThrottleStatus:
    """The bucket as Shopify last reported it."""

    maximum_available: float
    currently_available: float
    restore_rate: float

    @classmethod
    def from_extensions(cls, extensions: Any) -> ThrottleStatus | None:
        """The status in a response's ``extensions``; None when it has none."""
        try:
            status = extensions["cost"]["throttleStatus"]
            return cls(
                float(status["maximumAvailable"]),
                float(status["currentlyAvailable"]),
                float(status["restoreRate"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class CostThrottle:
    """Waits before a request until Shopify's bucket can pay its cost."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._status: ThrottleStatus | None = None
        self._at = 0.0
        # Points taken by requests sent since the last status arrived.
        self._spent = 0.0
        self.waited = 0.0

    @property
    def status(self) -> ThrottleStatus | None:
        return self._status

    def _expected(self, now: float) -> float:
        status = self._status
        assert status is not None
        refilled = status.currently_available + (now - self._at) * status.restore_rate
        return min(status.maximum_available, refilled) - self._spent

    def wait_time(self, cost: float) -> float:
        """Seconds until ``cost`` points should be available (0 when they are, or unknown)."""
        with self._lock:
            if self._status is None or self._status.restore_rate <= 0:
                return 0.0
            # A cost above the bucket could never be paid: ask for all of it.
            need = min(cost, self._status.maximum_available)
            missing = need - self._expected(self._clock())
            return max(0.0, missing / self._status.restore_rate)

    def acquire(self, cost: float) -> float:
        """Block until ``cost`` points should be there, reserve them; return seconds waited."""
        waited = 0.0
        while True:
            wait = self.wait_time(cost)
            if wait <= 0:
                with self._lock:
                    self._spent += cost
                self.waited += waited
                return waited
            self._sleep(wait)
            waited += wait

    def update(self, status: ThrottleStatus | None, reserved: float) -> None:
        """A response arrived: take its status as the truth and release the reservation."""
        with self._lock:
            self._spent = max(0.0, self._spent - reserved)
            if status is not None:
                self._status = status
                self._at = self._clock()

    def refill_wait(self, cost: float) -> float:
        """After THROTTLED: seconds until the reported bucket holds ``cost`` (at least 0.1)."""
        with self._lock:
            status = self._status
        if status is None or status.restore_rate <= 0:
            return 1.0
        missing = min(cost, status.maximum_available) - status.currently_available
        return max(0.1, missing / status.restore_rate)
