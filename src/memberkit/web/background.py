"""The background loop inside ``memberkit serve``: queued webhooks applied, events delivered.

Shopify's order webhooks are only verified and queued by the request
(``/webhooks/shopify`` answers at once); this loop applies them with the
earning rules (``services.earning.webhooks.apply_queued``), so points from an
order arrive within seconds without waiting for the daily schedule. Then it
delivers pending events to the enabled sinks, once per round
(``events.deliver``): the same deliverer as ``memberkit events deliver``, so a
separate deliverer can run beside it. On PostgreSQL they share the work; on
SQLite one deliverer runs at a time, and while another process holds that lock
this loop skips delivery for the round. ``events.deliver_in_serve = false``
turns the delivery off (webhooks are still applied).

A round that fails (a sink misconfigured, the database busy) is logged with
the reason and the loop goes on; it never takes ``serve`` down.
"""

from __future__ import annotations

import logging
import threading

from memberkit.config import Settings
from memberkit.errors import LockedError, MemberkitError
from memberkit.events.deliver import DeliveryOptions, deliver
from memberkit.events.sinks.factory import make_sinks
from memberkit.secrets import redact
from memberkit.services.earning.webhooks import apply_queued
from memberkit.services.program_settings import effective_settings
from memberkit.store.database import Database

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Every ``web.background_poll_seconds``: apply queued webhooks, then deliver events."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="memberkit-background", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.web.background_poll_seconds):
            try:
                self.run_once()
            except Exception as exc:  # the loop must outlive any one round
                log.error("background round failed: %s", redact(f"{type(exc).__name__}: {exc}"))

    def run_once(self) -> None:
        """One round (the tests call it directly)."""
        self._apply_webhooks()
        if self.settings.events.deliver_in_serve:
            self._deliver()
        self.rounds += 1

    def _apply_webhooks(self) -> None:
        try:
            earning = effective_settings(self.db, self.settings).earning
            applied = apply_queued(
                self.db,
                earning=earning,
                currency=self.settings.shopify.currency,
                zone=self.settings.processing.zone,
            )
        except LockedError:
            return  # the daily schedule or `points apply-webhooks` is at it
        except MemberkitError as exc:
            log.warning("applying Shopify webhooks failed: %s", redact(exc.message))
            return
        if applied.applied:
            log.info("applied %d Shopify webhooks", applied.applied)

    def _deliver(self) -> None:
        try:
            sinks = make_sinks(self.settings)
        except MemberkitError as exc:
            log.warning("event delivery is off: %s", redact(exc.message))
            return
        if not sinks:
            return
        try:
            deliver(
                self.db,
                sinks,
                options=DeliveryOptions.from_settings(self.settings),
                workers=self.settings.events.workers,
                once=True,
                stop=self._stop,
            )
        except LockedError:
            pass  # another deliverer (SQLite: one at a time) has the queue this round
        except MemberkitError as exc:
            log.warning("event delivery failed: %s", redact(exc.message))
        finally:
            for sink in sinks:
                sink.close()
