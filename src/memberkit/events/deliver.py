"""Delivering the outbox: workers queue, claim, send and record events for every sink.

``deliver(db, sinks, ...)`` runs passes until nothing is due (``once``) or until
``stop`` is set (the ``events deliver`` loop and ``memberkit serve``):

1. each sink's new events are queued (``queue.enqueue``);
2. ``workers`` threads claim batches of due deliveries sink by sink
   (``queue.claim``) and hand them to the sink;
3. the outcomes are written (``queue.record``): delivered, retried later with
   back-off, or dead after ``max_attempts``.

Crash safety. On PostgreSQL a worker claims its rows ``FOR UPDATE SKIP LOCKED``
and keeps that transaction open while it sends, so a second deliverer (on this
or another machine) never takes the same rows, and a killed deliverer's rows
become claimable the moment its connection drops. On SQLite one deliverer
runs at a time (the ``events-deliver`` lock in ``job_locks``), claims with a
read, sends, then records in a short write transaction, so the rest of
memberkit is never blocked behind an HTTP call; its ``workers`` threads each
take the members whose id is their number modulo ``workers``. Either way an event is
recorded as delivered only after the sink took it, so a crash can only make
it be sent again: Klaviyo de-duplicates on ``unique_id`` (the event id), Flow
and webhook receivers on the event id they get.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from memberkit.clock import utcnow
from memberkit.config import Settings
from memberkit.errors import MemberkitError
from memberkit.events import queue
from memberkit.events.sinks import Sink, SinkStopped
from memberkit.events.sinks.klaviyo import KlaviyoSink
from memberkit.store.database import Database
from memberkit.store.locks import job_lock

log = logging.getLogger("memberkit.events")

LOCK_NAME = "events-deliver"


@dataclass
class SinkReport:
    """What one sink did in a run."""

    queued: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    batches: int = 0
    profiles_updated: int = 0
    profiles_failed: int = 0
    stopped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DeliveryReport:
    """Every sink's counts; ``stopped`` sinks could not deliver (their error is kept)."""

    sinks: dict[str, SinkReport] = field(default_factory=dict)
    errors: list[MemberkitError] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return sum(s.delivered for s in self.sinks.values())

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def to_json(self) -> dict[str, Any]:
        return {name: report.to_json() for name, report in self.sinks.items()}


@dataclass(frozen=True)
class DeliveryOptions:
    """The ``[events]`` settings a deliverer needs."""

    max_attempts: int = 10
    retry_delay_ms: int = 30_000
    batch_size: int = 1000
    sync_profiles: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryOptions:
        """The options ``[events]`` gives (the CLI's deliverer and the one in ``serve``)."""
        events = settings.events
        return cls(
            max_attempts=events.max_attempts,
            retry_delay_ms=events.retry_delay_ms,
            batch_size=events.batch_size,
            sync_profiles=events.klaviyo.profile_properties,
        )


class Deliverer:
    """One ``deliver`` run over a set of sinks."""

    def __init__(
        self,
        db: Database,
        sinks: Sequence[Sink],
        *,
        options: DeliveryOptions,
        clock: Callable[[], dt.datetime] = utcnow,
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self.db = db
        self.sinks = list(sinks)
        self.options = options
        self.clock = clock
        self._today = today or (lambda: clock().date())
        self.report = DeliveryReport(sinks={s.name: SinkReport() for s in self.sinks})
        self._lock = threading.Lock()
        self._stopped: set[str] = set()
        self._touched: dict[str, set[int]] = {s.name: set() for s in self.sinks}

    # ----- one pass -------------------------------------------------------------

    def enqueue_all(self) -> None:
        for sink in self._active():
            added = queue.enqueue(self.db, sink.name, sink.event_types, now=self.clock())
            self.report.sinks[sink.name].queued += added

    def _active(self) -> list[Sink]:
        with self._lock:
            return [s for s in self.sinks if s.name not in self._stopped]

    def work_once(self, shard: tuple[int, int] | None = None) -> bool:
        """Claim and deliver one batch per active sink; True when any batch had events."""
        progress = False
        for sink in self._active():
            if self._deliver_batch(sink, shard):
                progress = True
        return progress

    def _deliver_batch(self, sink: Sink, shard: tuple[int, int] | None = None) -> bool:
        if self.db.is_postgresql:
            session = self.db.write_session()
            try:
                session.begin()
                events = queue.claim(
                    session, self.db, sink.name, limit=self.options.batch_size, now=self.clock()
                )
                if not events:
                    session.commit()
                    return False
                outcomes = self._send(sink, events)
                if outcomes is None:
                    session.rollback()
                    return False
                counts = queue.record(
                    session,
                    sink.name,
                    events,
                    outcomes,
                    max_attempts=self.options.max_attempts,
                    retry_delay_ms=self.options.retry_delay_ms,
                    now=self.clock(),
                )
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
        else:
            with self.db.read() as session:
                events = queue.claim(
                    session,
                    self.db,
                    sink.name,
                    limit=self.options.batch_size,
                    now=self.clock(),
                    shard=shard,
                )
            if not events:
                return False
            outcomes = self._send(sink, events)
            if outcomes is None:
                return False
            with self.db.write() as session:
                counts = queue.record(
                    session,
                    sink.name,
                    events,
                    outcomes,
                    max_attempts=self.options.max_attempts,
                    retry_delay_ms=self.options.retry_delay_ms,
                    now=self.clock(),
                )
        self._account(sink, events, outcomes, counts)
        return counts["delivered"] + counts["retried"] + counts["dead"] > 0

    def _send(self, sink: Sink, events: list[queue.QueuedEvent]) -> dict[int, queue.Outcome] | None:
        try:
            return sink.send(events)
        except SinkStopped as stop:
            with self._lock:
                if sink.name not in self._stopped:
                    self._stopped.add(sink.name)
                    self.report.sinks[sink.name].stopped = str(stop.error)
                    self.report.errors.append(stop.error)
            log.error("%s: stopped delivering: %s", sink.name, stop.error)
            return None

    def _account(
        self,
        sink: Sink,
        events: list[queue.QueuedEvent],
        outcomes: dict[int, queue.Outcome],
        counts: dict[str, int],
    ) -> None:
        with self._lock:
            report = self.report.sinks[sink.name]
            report.batches += 1
            report.delivered += counts["delivered"]
            report.retried += counts["retried"]
            report.dead += counts["dead"]
            touched = self._touched[sink.name]
            for event in events:
                outcome = outcomes.get(event.id)
                if outcome is not None and outcome.delivered and event.member_id is not None:
                    touched.add(event.member_id)

    def sync_profiles(self) -> None:
        """Klaviyo: write the points properties of the members whose events went out."""
        if not self.options.sync_profiles:
            return
        for sink in self._active():
            if not isinstance(sink, KlaviyoSink):
                continue
            with self._lock:
                members, self._touched[sink.name] = self._touched[sink.name], set()
            if not members:
                continue
            try:
                uploaded, failed = sink.sync_profiles(self.db, members, today=self._today())
            except MemberkitError as exc:
                log.warning("%s: profile properties not updated: %s", sink.name, exc)
                with self._lock:
                    self._touched[sink.name] |= members
                continue
            report = self.report.sinks[sink.name]
            report.profiles_updated += uploaded
            report.profiles_failed += failed

    # ----- the run --------------------------------------------------------------

    def run(
        self,
        *,
        workers: int = 1,
        once: bool = True,
        stop: threading.Event | None = None,
        poll_seconds: float = 2.0,
    ) -> DeliveryReport:
        """Deliver until nothing is due (``once``) or until ``stop`` is set."""
        stop = stop or threading.Event()
        workers = max(1, workers)
        while not stop.is_set():
            self.enqueue_all()
            self._drain(workers, stop)
            self.sync_profiles()
            if once or not self._active():
                break
            stop.wait(poll_seconds)
        return self.report

    def _drain(self, workers: int, stop: threading.Event) -> None:
        if workers == 1:
            while not stop.is_set() and self.work_once():
                pass
            return
        failures: list[BaseException] = []

        # SQLite (one deliverer, no row locks): each thread takes its own members.
        sharded = not self.db.is_postgresql

        def worker(number: int) -> None:
            shard = (number, workers) if sharded else None
            try:
                idle = 0
                # A worker whose claim was held back (another worker holds a member's
                # earlier events) tries a few more times before it calls the queue empty.
                while not stop.is_set() and idle < 3:
                    if self.work_once(shard):
                        idle = 0
                    else:
                        idle += 1
                        time.sleep(0.05 * idle)
            except BaseException as exc:  # surfaced below
                failures.append(exc)

        threads = [
            threading.Thread(target=worker, args=(n,), name=f"deliver-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]


def deliver(
    db: Database,
    sinks: Sequence[Sink],
    *,
    options: DeliveryOptions,
    workers: int = 1,
    once: bool = True,
    stop: threading.Event | None = None,
    poll_seconds: float = 2.0,
    clock: Callable[[], dt.datetime] = utcnow,
) -> DeliveryReport:
    """Deliver pending events to ``sinks``; on SQLite one deliverer at a time (a lock)."""
    deliverer = Deliverer(db, sinks, options=options, clock=clock)
    if db.is_postgresql:
        return deliverer.run(workers=workers, once=once, stop=stop, poll_seconds=poll_seconds)
    # One deliverer process at a time; its worker threads split the members between them.
    with job_lock(db, LOCK_NAME, command="memberkit events deliver", what="event delivery"):
        return deliverer.run(workers=workers, once=once, stop=stop, poll_seconds=poll_seconds)
