"""Fetching a Klaviyo profile index: a segment's members, or all profiles.

Cursor paging is sequential, so one cursor at 150 ms a page would take half an
hour for a million profiles. Instead the fetch splits the time axis into
disjoint slices and pages through them in parallel, up to the endpoint's steady
rate limit (the shared ``RateLimiter`` keeps the total under it):

- a segment is sliced on ``joined_group_at``, all profiles on ``created`` (it never
  changes, so a profile cannot move between slices during the fetch);
- two probe requests (``sort=<field>`` and ``sort=-<field>``, one profile each) find
  the first and last timestamps; slice boundaries sit on half seconds, the first
  slice has no lower bound and the last no upper bound, so nothing is missed;
- each slice follows its absolute ``links.next`` until it is null or absent.

In ``all`` mode a stale cache can be refreshed incrementally with
``greater-than(updated, <last fetch start>)``; that cannot see deletions, so the
caller still runs a full fetch at least every ``klaviyo.full_refresh_days``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from memberkit.domain.max_value import DEFAULT_PROPERTIES, PropertyMap, subset_properties
from memberkit.domain.profile_index import CachedProfile, ProfileIndex
from memberkit.integrations.klaviyo.client import KlaviyoClient
from memberkit.integrations.klaviyo.errors import KlaviyoError, KlaviyoRequestError
from memberkit.integrations.klaviyo.ratelimit import Endpoint

log = logging.getLogger("memberkit.klaviyo.profiles")

PAGE_SIZE = 100
PROFILE_FIELDS = "email,properties"
#: Slices per worker: more, smaller slices balance uneven distributions over time.
SLICES_PER_WORKER = 4


@dataclass(frozen=True)
class ProfileSource:
    """Which profiles make an index: a segment's members, or every profile."""

    mode: Literal["segment", "all"]
    segment_id: str | None = None

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint.SEGMENT_PROFILES if self.mode == "segment" else Endpoint.PROFILES_LIST

    @property
    def path(self) -> str:
        if self.mode == "segment":
            return f"/api/segments/{self.segment_id}/profiles"
        return "/api/profiles"

    @property
    def time_field(self) -> str:
        return "joined_group_at" if self.mode == "segment" else "created"

    def describe(self) -> str:
        return f"segment {self.segment_id}" if self.mode == "segment" else "all profiles"


@dataclass(frozen=True)
class Slice:
    """Profiles whose ``field`` is strictly after ``after`` and strictly before ``before``."""

    field: str
    after: dt.datetime | None
    before: dt.datetime | None

    def filter(self) -> str | None:
        terms = []
        if self.after is not None:
            terms.append(f"greater-than({self.field},{_stamp(self.after)})")
        if self.before is not None:
            terms.append(f"less-than({self.field},{_stamp(self.before)})")
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else f"and({','.join(terms)})"


@dataclass
class FetchStats:
    requests: int = 0
    profiles_seen: int = 0
    without_email: int = 0
    slices: int = 0


ProfileRow = tuple[str, str, dict[str, Any]]  # (lower-cased email, id, nine properties)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def plan_slices(field: str, first: dt.datetime, last: dt.datetime, count: int) -> list[Slice]:
    """``count`` disjoint slices covering all time; inner boundaries on half seconds."""
    start = math.floor(first.timestamp())
    end = math.floor(last.timestamp()) + 1
    span = end - start
    count = max(1, min(count, span))
    if count == 1:
        return [Slice(field, None, None)]
    bounds = sorted({start + (span * k) // count for k in range(1, count)})
    moments = [dt.datetime.fromtimestamp(b + 0.5, dt.UTC) for b in bounds]
    edges: list[dt.datetime | None] = [None, *moments, None]
    return [Slice(field, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


class ProfileFetcher:
    """Pages through profiles of a ``ProfileSource`` with parallel slices."""

    def __init__(
        self,
        client: KlaviyoClient,
        source: ProfileSource,
        *,
        workers: int = 8,
        on_page: Callable[[int], None] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        properties: PropertyMap = DEFAULT_PROPERTIES,
    ) -> None:
        if source.mode == "segment" and not source.segment_id:
            raise ValueError("a segment source needs a segment id")
        self.client = client
        self.source = source
        self.workers = max(1, workers)
        self.on_page = on_page
        # The max-value properties an index keeps of each profile (the names sent).
        self.properties = properties
        self._clock = clock or _utcnow
        self.stats = FetchStats()
        self._lock = threading.Lock()

    # -- public --------------------------------------------------------------

    def fetch(self, *, now: dt.datetime | None = None) -> ProfileIndex:
        """A full index; ``fetched_at`` is the start of the fetch (``now``, else the clock).

        The start, not the end: a profile that changed while a long fetch ran may
        have been read before the change, so the index is only as new as its start
        (and the next incremental refresh must ask from there).
        """
        started = now or self._clock()
        slices = self._plan_full()
        rows = self._run(slices)
        index = ProfileIndex(
            mode=self.source.mode,
            segment_id=self.source.segment_id,
            fetched_at=started,
            full_fetched_at=started,
        )
        merge_rows(index, rows)
        return index

    def refresh(self, cached: ProfileIndex, *, now: dt.datetime | None = None) -> ProfileIndex:
        """``cached`` plus every profile updated since it was fetched (``all`` mode only)."""
        if self.source.mode != "all":
            raise ValueError("incremental refresh is only possible for all profiles")
        started = now or self._clock()
        since = cached.fetched_at
        count = max(1, self.workers * 2)
        # Slices of the updated-since window; the last one has no upper bound.
        span = max((started - since).total_seconds(), 1.0)
        edges: list[dt.datetime | None] = [since]
        for k in range(1, count):
            edges.append(since + dt.timedelta(seconds=span * k / count))
        edges.append(None)
        slices = [Slice("updated", edges[i], edges[i + 1]) for i in range(count)]
        rows = self._run(slices)
        index = ProfileIndex(
            mode="all",
            segment_id=None,
            fetched_at=started,
            profiles=dict(cached.profiles),
            full_fetched_at=cached.full_fetched_at,
        )
        merge_rows(index, rows)
        return index

    # -- internals -----------------------------------------------------------

    def _plan_full(self) -> list[Slice]:
        if self.workers == 1:
            return [Slice(self.source.time_field, None, None)]
        try:
            first = self._probe(ascending=True)
            last = self._probe(ascending=False)
        except KlaviyoRequestError as exc:
            # A revision that cannot sort or return the timestamp: one cursor still works.
            log.warning(
                "Klaviyo %s: cannot slice the fetch (%s); paging sequentially",
                self.source.describe(),
                exc,
            )
            return [Slice(self.source.time_field, None, None)]
        if first is None or last is None:
            # Empty, or the timestamps are not given: one sequential cursor.
            return [Slice(self.source.time_field, None, None)]
        return plan_slices(self.source.time_field, first, last, self.workers * SLICES_PER_WORKER)

    def _probe(self, *, ascending: bool) -> dt.datetime | None:
        field = self.source.time_field
        params = {
            "page[size]": "1",
            "fields[profile]": field,
            "sort": field if ascending else f"-{field}",
        }
        body = self.client.get(self.source.endpoint, self.source.path, params=params)
        self._count_request()
        data = body.get("data")
        if not isinstance(data, list) or not data:
            return None
        attributes = data[0].get("attributes") if isinstance(data[0], dict) else None
        return _parse_time(attributes.get(field)) if isinstance(attributes, dict) else None

    def _count_request(self) -> None:
        with self._lock:
            self.stats.requests += 1

    def _run(self, slices: list[Slice]) -> list[ProfileRow]:
        self.stats.slices += len(slices)
        work: queue.SimpleQueue[Slice] = queue.SimpleQueue()
        for piece in slices:
            work.put(piece)
        results: list[list[ProfileRow]] = []

        failed = threading.Event()

        def worker() -> None:
            while not failed.is_set():
                try:
                    piece = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    rows = list(self._fetch_slice(piece, failed))
                except BaseException:
                    failed.set()  # the other slices stop at their next page
                    raise
                with self._lock:
                    results.append(rows)

        with ThreadPoolExecutor(max_workers=min(self.workers, len(slices))) as pool:
            futures = [pool.submit(worker) for _ in range(min(self.workers, len(slices)))]
            for future in futures:
                future.result()  # re-raises the first KlaviyoError of any slice
        return [row for rows in results for row in rows]

    def _fetch_slice(self, piece: Slice, failed: threading.Event) -> Iterator[ProfileRow]:
        params: dict[str, str] | None = {
            "page[size]": str(PAGE_SIZE),
            "fields[profile]": PROFILE_FIELDS,
        }
        assert params is not None
        condition = piece.filter()
        if condition:
            params["filter"] = condition
        url = self.source.path
        while not failed.is_set():
            body = self.client.get(self.source.endpoint, url, params=params)
            self._count_request()
            data = body.get("data")
            if not isinstance(data, list):
                raise KlaviyoError(
                    f"Klaviyo sent a page of {self.source.describe()} without a data list"
                )
            seen = without_email = 0
            for item in data:
                row = _row(item, self.properties)
                seen += 1
                if row is None:
                    without_email += 1
                    continue
                yield row
            with self._lock:
                self.stats.profiles_seen += seen
                self.stats.without_email += without_email
            if self.on_page is not None:
                self.on_page(seen)
            links = body.get("links")
            next_url = links.get("next") if isinstance(links, dict) else None
            if not next_url:
                return
            url = self._check_next(str(next_url))
            params = None  # links.next carries every query parameter

    def _check_next(self, url: str) -> str:
        # The key goes with every request: never follow a link to another host.
        ours = httpx.URL(self.client.base_url)
        theirs = httpx.URL(url)
        if (theirs.scheme, theirs.host, theirs.port) != (ours.scheme, ours.host, ours.port):
            raise KlaviyoError(
                f"Klaviyo's links.next points to another host ({theirs.host}); refusing to "
                "send the API key there",
                hint="check klaviyo.base_url",
            )
        return url


def _row(item: Any, properties: PropertyMap) -> ProfileRow | None:
    if not isinstance(item, dict):
        return None
    attributes = item.get("attributes")
    if not isinstance(attributes, dict):
        return None
    email = attributes.get("email")
    pid = item.get("id")
    if not isinstance(email, str) or not email.strip() or not isinstance(pid, str):
        return None
    found = attributes.get("properties")
    props = subset_properties(found, properties) if isinstance(found, dict) else {}
    return email.strip().lower(), pid, props


def merge_rows(index: ProfileIndex, rows: list[ProfileRow]) -> None:
    """Put fetched profiles into ``index``; a profile whose email changed loses its old key."""
    by_id: dict[str, str] = {}
    if index.profiles:
        by_id = {p["id"]: email for email, p in index.profiles.items()}
    for email, pid, props in rows:
        old_email = by_id.get(pid)
        if old_email is not None and old_email != email:
            index.profiles.pop(old_email, None)
        entry: CachedProfile = {"id": pid, "properties": props}
        index.profiles[email] = entry
        by_id[pid] = email
