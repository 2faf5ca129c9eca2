"""The client-side rate limiter: burst and steady windows, shared safely by threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.integrations.klaviyo.helpers import make_client
from tests.servers.klaviyo_server import FakeKlaviyo

from memberkit.integrations.klaviyo import RATE_LIMITS, Endpoint, RateLimit, RateLimiter
from memberkit.integrations.klaviyo.ratelimit import SlidingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_the_table_holds_klaviyos_documented_tiers() -> None:
    assert RATE_LIMITS[Endpoint.SEGMENT_PROFILES] == RateLimit(burst=75, steady=700)
    assert RATE_LIMITS[Endpoint.PROFILES_LIST] == RateLimit(burst=75, steady=700)
    assert RATE_LIMITS[Endpoint.BULK_IMPORT_CREATE] == RateLimit(burst=10, steady=150)
    assert RATE_LIMITS[Endpoint.BULK_IMPORT_GET] == RateLimit(burst=10, steady=150)
    assert RATE_LIMITS[Endpoint.EVENT_BULK_CREATE] == RateLimit(burst=10, steady=150)
    assert RATE_LIMITS[Endpoint.EVENTS_CREATE] == RateLimit(burst=350, steady=3500)


def test_burst_window_allows_burst_per_second() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(
        RateLimit(burst=10, steady=150),
        margin=0.0,
        steady_margin=0.0,
        clock=clock,
        sleep=clock.sleep,
    )
    for _ in range(10):
        assert limiter.acquire() == 0
        limiter.release()
    assert clock.now == 0
    limiter.acquire()
    assert clock.now == 1.0


def test_steady_window_binds_over_a_minute() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(
        RateLimit(burst=10, steady=150),
        margin=0.0,
        steady_margin=0.0,
        clock=clock,
        sleep=clock.sleep,
    )
    times = []
    for _ in range(200):
        with limiter.slot():
            times.append(clock.now)
    # 150 in the first 15 s at the burst rate, then the minute window must slide.
    assert times[149] == 14.0
    assert times[150] == 60.0
    assert times[199] == 64.0
    for i in range(200):
        window = [t for t in times if times[i] - 60 < t <= times[i]]
        assert len(window) <= 150


def test_a_slot_counts_from_its_answer_so_slow_requests_cannot_crowd_a_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(
        RateLimit(burst=2, steady=100),
        margin=0.0,
        steady_margin=0.0,
        clock=clock,
        sleep=clock.sleep,
    )
    limiter.acquire()
    limiter.acquire()
    clock.now = 0.4  # both answered 0.4 s after sending
    limiter.release()
    limiter.release()
    limiter.acquire()
    # Klaviyo may have counted them as late as 0.4 s: the third waits until 1.4 s.
    assert clock.now == 1.4


# Real threads against the real server's windows: a (scaled) minute of 1.2 s.
@pytest.mark.slow
def test_parallel_threads_never_exceed_the_servers_limits(klaviyo: FakeKlaviyo) -> None:
    klaviyo.add_many(1, segment_id="XVnnDX")
    # Windows scaled to a 20 ms "second" and a 1.2 s "minute".
    klaviyo.rate_limits["segments:profiles"] = (5, 12)
    klaviyo.window_scale = 0.02
    limiter = RateLimiter(
        {Endpoint.SEGMENT_PROFILES: RateLimit(burst=5, steady=12)}, steady_margin=0.1, scale=0.02
    )
    with make_client(klaviyo, limiter=limiter) as client, ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda _: client.get(Endpoint.SEGMENT_PROFILES, "/api/segments/XVnnDX/profiles"),
                range(15),
            )
        )
    assert client.stats["rate_limited"] == 0
    assert len(klaviyo.requests_to("segments:profiles", 200)) == 15
