"""Bulk postings: many credits and debits in one transaction, at close to bulk-insert speed.

``post_bulk`` is what imports (and the benchmark) use. It applies the same
rules as the single postings in ``services.ledger.points``, through the same
``LedgerBook``, so a posting means the same whether it came alone or with a
million others. All or nothing: a refused posting (insufficient points, a key
conflict) raises naming its position, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from memberkit.clock import utcnow
from memberkit.domain.ledger import EntryContent, check_source, to_utc
from memberkit.errors import InvalidValueError, MemberkitError
from memberkit.store.database import Database
from memberkit.store.ledger_book import (
    LedgerBook,
    NewEntry,
    check_replay,
    content_of,
    find_keys,
)


@dataclass(frozen=True)
class BulkPosting:
    """One posting of a bulk call: ``points`` > 0 credits, < 0 debits."""

    member_id: int
    points: int
    source: str = "import"
    source_ref: str | None = None
    expires_on: dt.date | None = None
    key: str | None = None
    public_note: str | None = None
    internal_note: str | None = None
    effective_at: dt.datetime | None = None


@dataclass(frozen=True)
class BulkResult:
    """What a bulk call wrote: new entries, replayed keys, expiries that fell due."""

    posted: int
    replayed: int
    expired: int
    entry_ids: list[int] = field(default_factory=list, repr=False)


def post_bulk(
    db: Database,
    *,
    postings: Iterable[BulkPosting],
    zone: ZoneInfo,
    allow_negative: bool = False,
    now: dt.datetime | None = None,
    batch_size: int = 20_000,
    keep_ids: bool = False,
) -> BulkResult:
    """Post many credits and debits in one transaction: all of them or none.

    Same rules as the single postings, applied in order. A debit larger than
    the balance raises ``InsufficientPointsError`` naming the member and the
    posting's position, and nothing is written. Replayed keys are skipped.
    """
    moment = now or utcnow()
    posted = replayed = expired = 0
    ids: list[int] = []
    with db.write() as session:
        batch: list[BulkPosting] = []
        position = 0
        # One book for the whole call: members stay locked (and their state
        # current) until commit, so later batches need not load them again.
        book = LedgerBook(session, db, zone=zone, now=moment)

        def run(batch: Sequence[BulkPosting], first: int) -> None:
            nonlocal posted, replayed, expired
            keys = [p.key for p in batch if p.key is not None]
            stored = find_keys(session, keys) if keys else {}
            todo: list[tuple[int, BulkPosting]] = []
            for index, posting in enumerate(batch, start=first):
                if posting.points == 0:
                    raise InvalidValueError(f"posting {index}: points must not be 0")
                check_source(posting.source)
                wanted = EntryContent(
                    posting.member_id,
                    "credit" if posting.points > 0 else "debit",
                    posting.points,
                    posting.expires_on if posting.points > 0 else None,
                    posting.source,
                    posting.source_ref,
                )
                if posting.key is not None and posting.key in stored:
                    entry = stored[posting.key]
                    check_replay(posting.key, content_of(entry), entry.id, wanted)
                    replayed += 1
                    continue
                todo.append((index, posting))
            book.load({p.member_id for _, p in todo if p.points > 0}, all_lots=False)
            book.load({p.member_id for _, p in todo if p.points < 0}, all_lots=True)
            expired += book.entries_pending
            book.reserve_entry_ids(len(todo))
            for index, posting in todo:
                if posting.key is not None:
                    pending = book.pending_key(posting.key)
                    if pending is not None:
                        check_replay(
                            posting.key,
                            content_of(pending),
                            pending["id"],
                            EntryContent(
                                posting.member_id,
                                "credit" if posting.points > 0 else "debit",
                                posting.points,
                                posting.expires_on if posting.points > 0 else None,
                                posting.source,
                                posting.source_ref,
                            ),
                        )
                        replayed += 1
                        continue
                meta = NewEntry(
                    source=posting.source,
                    source_ref=posting.source_ref,
                    public_note=posting.public_note,
                    internal_note=posting.internal_note,
                    key=posting.key,
                    effective_at=to_utc(posting.effective_at, zone)
                    if posting.effective_at
                    else None,
                )
                state = book.members[posting.member_id]
                try:
                    if posting.points > 0:
                        row = book.credit(
                            state, posting.points, expires_on=posting.expires_on, meta=meta
                        )
                    else:
                        row = book.debit(
                            state, -posting.points, allow_negative=allow_negative, meta=meta
                        )
                except MemberkitError as exc:
                    exc.message = f"posting {index}: {exc.message}"
                    exc.args = (exc.message,)
                    raise
                posted += 1
                if keep_ids:
                    ids.append(row["id"])
            book.flush(balances=False)

        for posting in postings:
            batch.append(posting)
            if len(batch) >= batch_size:
                run(batch, position)
                position += len(batch)
                batch = []
        if batch:
            run(batch, position)
        book.flush()
    return BulkResult(posted, replayed, expired, ids)
