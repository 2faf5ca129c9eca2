"""The unit of work: one transaction that every change of one request goes through.

Contract:

* ``with UnitOfWork.begin(db, actor=..., batch=..., zone=..., now=...) as uow:``
  opens one write transaction (``BEGIN IMMEDIATE`` on SQLite). Leaving the
  block normally flushes what is pending and commits; leaving it with an
  exception rolls everything back. Nothing is committed half-way unless the
  caller asks for it with ``uow.commit()`` (bulk work that checkpoints).
* Everything written through one unit of work commits together or not at all:
  ledger postings (through ``uow.book``, the one ``LedgerBook`` of the
  transaction), tier moves with their reward, profile changes, outbox events
  (``uow.emit``) and a batch's checkpoint (``uow.checkpoint``).
* ``actor`` (``cli:USER``, ``web:EMAIL``, ``system:expiry``...) and the batch id
  are stamped on every ledger entry, tier change, profile change and event the
  unit writes; services never make one up. ``now`` is the one time of the whole
  unit (entries, events, history rows), ``zone`` the store's processing zone.
* Service functions take ``uow=`` to join a caller's unit of work, or open
  their own (``db=`` plus ``actor=``) when called alone; a function given a
  ``uow`` never commits it.
* ``uow.commit()`` writes what is pending, commits, and starts a new
  transaction in the same session. Locks are released, so the book is
  started afresh: state loaded before the commit is not reused after it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from memberkit.clock import utcnow
from memberkit.store.bulk import insert_rows
from memberkit.store.database import Database
from memberkit.store.ledger_book import LedgerBook, MemberState
from memberkit.store.models import Batch, OutboxEvent

UTC_ZONE = ZoneInfo("UTC")


def outbox_row(
    event_type: str,
    member_id: int | None,
    payload: dict[str, Any],
    *,
    actor: str,
    batch_id: int | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """The ``outbox`` row of one event, ready for a bulk insert."""
    return {
        "event_type": event_type,
        "member_id": member_id,
        "payload": json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str),
        "created_at": now,
        "actor": actor,
        "batch_id": batch_id,
    }


class UnitOfWork:
    """One transaction with its actor, batch, time and ledger book; see the module docstring."""

    def __init__(
        self,
        session: Session,
        db: Database,
        *,
        actor: str,
        batch_id: int | None = None,
        zone: ZoneInfo = UTC_ZONE,
        now: dt.datetime | None = None,
    ) -> None:
        if not actor or ":" not in actor:
            raise ValueError(f"an actor looks like 'cli:USER' or 'system:expiry', got {actor!r}")
        self.session = session
        self.db = db
        self.actor = actor
        self.batch_id = batch_id
        self.zone = zone
        self.now = now or utcnow()
        self._book: LedgerBook | None = None
        self._carry: dict[int, MemberState] = {}
        # Outbox rows of this transaction, in the order the changes happened.
        self.events: list[dict[str, Any]] = []

    @classmethod
    @contextmanager
    def begin(
        cls,
        db: Database,
        *,
        actor: str,
        batch: Batch | int | None = None,
        zone: ZoneInfo = UTC_ZONE,
        now: dt.datetime | None = None,
    ) -> Iterator[UnitOfWork]:
        """Open a unit of work; commit on success, roll back on error."""
        batch_id = batch.id if isinstance(batch, Batch) else batch
        session = db.write_session()
        try:
            session.begin()
            uow = cls(session, db, actor=actor, batch_id=batch_id, zone=zone, now=now)
            yield uow
            uow.flush()
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def book(self) -> LedgerBook:
        """The ledger book of this transaction (created on first use)."""
        if self._book is None:
            self._book = LedgerBook(
                self.session,
                self.db,
                zone=self.zone,
                now=self.now,
                actor=self.actor,
                batch_id=self.batch_id,
                outbox=self.events,
                carry=self._carry,
            )
            self._carry = {}
        return self._book

    @property
    def has_book(self) -> bool:
        """True once a ledger book was started in this transaction."""
        return self._book is not None

    def emit(self, event_type: str, member_id: int | None, payload: dict[str, Any]) -> None:
        """Add an outbox event to this transaction (written at the next flush)."""
        self.events.append(
            outbox_row(
                event_type,
                member_id,
                payload,
                actor=self.actor,
                batch_id=self.batch_id,
                now=self.now,
            )
        )

    def flush(self, *, balances: bool = True) -> None:
        """Write pending ledger rows and events; the transaction stays open."""
        if self._book is not None:
            self._book.flush(balances=balances)
        if self.events:
            table = OutboxEvent.__table__
            assert isinstance(table, Table)
            insert_rows(self.session, table, self.events)
            self.events.clear()

    def checkpoint(self, position: int) -> None:
        """Record how far this unit's batch got (committed with the work it counts)."""
        if self.batch_id is None:
            raise ValueError("checkpoint() needs a unit of work in a batch")
        self.session.execute(
            update(Batch).where(Batch.id == self.batch_id).values(position=position)
        )

    def commit(self) -> None:
        """Flush, commit, and go on in a new transaction with a fresh book."""
        self.flush()
        self.session.commit()
        # Locks are gone: the next book re-reads each member and reuses what this
        # one knew only where the stored ledger_version shows nobody wrote since.
        self._carry = self._book.carry_over() if self._book is not None else {}
        self._book = None
        self.session.begin()


@contextmanager
def unit_of_work(
    uow: UnitOfWork | None,
    db: Database | None,
    *,
    actor: str | None,
    zone: ZoneInfo | None = None,
    now: dt.datetime | None = None,
    batch: Batch | int | None = None,
) -> Iterator[UnitOfWork]:
    """``uow`` itself when given (the caller commits), else a new one on ``db``.

    A service called alone must be told its actor: services never guess one.
    """
    if uow is not None:
        yield uow
        return
    if db is None:
        raise TypeError("pass uow= (a unit of work) or db= (a Database) to a service function")
    if actor is None:
        raise TypeError("a service called without uow= needs actor= (e.g. 'cli:jo')")
    with UnitOfWork.begin(db, actor=actor, batch=batch, zone=zone or UTC_ZONE, now=now) as own:
        yield own
