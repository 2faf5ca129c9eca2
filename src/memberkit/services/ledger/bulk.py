"""Bulk postings: many credits, debits and sets, committed in chunks, with per-posting outcomes.

``post_bulk`` is what imports (and the benchmark) use. It applies the same
rules as the single postings in ``services.ledger.points``, through the same
``LedgerBook``, so a posting means the same whether it came alone or with a
million others.

* **Outcomes, not the first error.** Every posting is ``applied``,
  ``replayed`` (its key was used before with the same content) or
  ``refused`` with a reason in the user's words (insufficient points, a key
  used with other content, an unknown member, a value out of range...). A
  refused posting writes nothing; the others go on.
* **Members by id, email or Shopify id**, resolved in bulk per chunk.
* **Chunks.** Called alone (``db=``), postings are committed every
  ``chunk_size`` postings, so other writers get the SQLite write lock in
  between and no transaction holds it for long. Each chunk records how far the
  run got (``Batch.position``) in the same commit, so a run that crashed is
  resumed by calling again with its ``batch``: the postings before that
  position are skipped (the iterable must yield the same postings in the same
  order), and every posting applies exactly once. Given a caller's ``uow``,
  everything stays in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from memberkit.clock import utcnow
from memberkit.domain.ledger import (
    EntryContent,
    check_replay,
    check_source,
    records_unchanged_set,
    set_balance_difference,
    to_utc,
)
from memberkit.domain.members import email_key
from memberkit.errors import MemberkitError
from memberkit.store.bulk import among, chunked
from memberkit.store.database import Database
from memberkit.store.ledger_book import LedgerBook, NewEntry, content_of, find_keys
from memberkit.store.models import Batch, Member
from memberkit.store.unit_of_work import UnitOfWork, unit_of_work

OutcomeStatus = Literal["applied", "replayed", "refused"]


@dataclass(frozen=True)
class BulkPosting:
    """One posting of a bulk call.

    ``points`` > 0 credits, < 0 debits; with ``set_to`` the posting brings the
    balance to that value (``points`` is then ignored). The member is
    ``member_id``, else ``email``, else ``shopify_id``. ``allow_negative``
    None takes the call's default.
    """

    member_id: int | None = None
    points: int = 0
    source: str = "import"
    source_ref: str | None = None
    expires_on: dt.date | None = None
    key: str | None = None
    public_note: str | None = None
    internal_note: str | None = None
    effective_at: dt.datetime | None = None
    set_to: int | None = None
    allow_negative: bool | None = None
    email: str | None = None
    shopify_id: str | None = None

    def describes_member(self) -> str:
        """How a refusal names the member it was for."""
        if self.member_id is not None:
            return f"member {self.member_id}"
        if self.email:
            return self.email
        return f"Shopify customer {self.shopify_id}"


@dataclass(frozen=True)
class PostingOutcome:
    """What happened to one posting (``position`` counts from 0 in the whole input)."""

    position: int
    status: OutcomeStatus
    entry_id: int | None = None
    reason: str | None = None
    # The refusal as raised (None for an unknown member): callers word it their way.
    error: MemberkitError | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class BulkResult:
    """What a bulk call did: counts, refusals, and (when asked) every outcome."""

    posted: int
    replayed: int
    expired: int
    refused: int = 0
    batch_id: int | None = None
    refusals: list[PostingOutcome] = field(default_factory=list, repr=False)
    entry_ids: list[int] = field(default_factory=list, repr=False)
    outcomes: list[PostingOutcome] = field(default_factory=list, repr=False)


def _content(posting: BulkPosting, member_id: int) -> EntryContent:
    if posting.set_to is not None:
        return EntryContent(
            member_id,
            "set",
            None,
            posting.expires_on,
            posting.source,
            posting.source_ref,
            posting.set_to,
        )
    return EntryContent(
        member_id,
        "credit" if posting.points > 0 else "debit",
        posting.points,
        posting.expires_on if posting.points > 0 else None,
        posting.source,
        posting.source_ref,
    )


def _resolve_members(work: UnitOfWork, chunk: Sequence[BulkPosting]) -> dict[tuple[str, str], int]:
    """Member ids for the postings that name a member by email or Shopify id."""
    pg = work.db.is_postgresql
    found: dict[tuple[str, str], int] = {}
    emails = sorted({email_key(p.email) for p in chunk if p.member_id is None and p.email})
    shopify = sorted(
        {p.shopify_id for p in chunk if p.member_id is None and not p.email and p.shopify_id}
    )
    for part in chunked(emails):
        query = select(Member.id, Member.email_key).where(
            among(Member.email_key, part, postgresql=pg)
        )
        for row in work.session.execute(query):
            found[("email", row.email_key)] = int(row.id)
    for part in chunked(shopify):
        query = select(Member.id, Member.shopify_id).where(
            among(Member.shopify_id, part, postgresql=pg)
        )
        for row in work.session.execute(query):
            found[("shopify", row.shopify_id)] = int(row.id)
    return found


def _known_ids(work: UnitOfWork, ids: Iterable[int]) -> set[int]:
    pg = work.db.is_postgresql
    known: set[int] = set()
    for part in chunked(sorted(set(ids))):
        known.update(
            int(i)
            for i in work.session.scalars(
                select(Member.id).where(among(Member.id, part, postgresql=pg))
            )
        )
    return known


def post_bulk(
    db: Database | None = None,
    *,
    uow: UnitOfWork | None = None,
    actor: str | None = None,
    postings: Iterable[BulkPosting],
    zone: ZoneInfo | None = None,
    allow_negative: bool = False,
    now: dt.datetime | None = None,
    chunk_size: int = 5000,
    batch: Batch | int | None = None,
    label: str | None = None,
    keep_ids: bool = False,
    keep_outcomes: bool = False,
    on_chunk: Callable[[int], None] | None = None,
    before_commit: Callable[[UnitOfWork, Sequence[PostingOutcome]], None] | None = None,
    emit_events: bool = True,
) -> BulkResult:
    """Post many credits, debits and sets; see the module docstring.

    ``batch`` resumes that batch after its recorded position; without one a new
    ``Batch`` (kind ``bulk_posting``, ``label``) is started. ``on_chunk(position)``
    is called after each chunk commits (progress bars; tests crash a run there).
    ``before_commit(uow, outcomes)`` runs with each chunk's outcomes inside the
    chunk's transaction, so what a caller records about them (an import's failed
    rows) commits with the postings and the checkpoint, or not at all.
    ``emit_events=False`` writes no outbox event for the postings themselves (a
    silent migration); expiries found due while loading members still write theirs.
    """
    moment = now or utcnow()
    counts = {"applied": 0, "replayed": 0, "refused": 0, "expired": 0}
    refusals: list[PostingOutcome] = []
    outcomes: list[PostingOutcome] = []
    ids: list[int] = []
    with unit_of_work(uow, db, actor=actor, zone=zone, now=moment) as work:
        batch_row = _start_batch(work, batch, label)
        position = batch_row.position
        source = iter(postings)
        if position:
            # Resume: these postings were committed by an earlier run of this batch.
            for _ in islice(source, position):
                pass

        def note(outcome: PostingOutcome) -> None:
            counts[outcome.status] += 1
            if outcome.status == "refused":
                refusals.append(outcome)
            if keep_outcomes:
                outcomes.append(outcome)
            if keep_ids and outcome.status == "applied" and outcome.entry_id is not None:
                ids.append(outcome.entry_id)

        for chunk in _chunks(source, chunk_size):
            done, expired = _post_chunk(
                work, chunk, position, allow_negative=allow_negative, emit_events=emit_events
            )
            for outcome in done:
                note(outcome)
            counts["expired"] += expired
            if before_commit is not None:
                before_commit(work, done)
            position += len(chunk)
            work.checkpoint(position)
            if uow is None:
                work.commit()
            else:
                work.flush(balances=False)
            if on_chunk is not None:
                on_chunk(position)
        details = {
            "applied": counts["applied"],
            "replayed": counts["replayed"],
            "refused": counts["refused"],
        }
        work.session.execute(
            update(Batch)
            .where(Batch.id == batch_row.id)
            .values(state="done", finished_at=work.now, details=json.dumps(details))
        )
    return BulkResult(
        posted=counts["applied"],
        replayed=counts["replayed"],
        expired=counts["expired"],
        refused=counts["refused"],
        batch_id=batch_row.id,
        refusals=refusals,
        entry_ids=ids,
        outcomes=outcomes,
    )


def _chunks(source: Iterator[BulkPosting], size: int) -> Iterator[list[BulkPosting]]:
    while True:
        chunk = list(islice(source, size))
        if not chunk:
            return
        yield chunk


def _start_batch(work: UnitOfWork, batch: Batch | int | None, label: str | None) -> Batch:
    session = work.session
    if batch is not None:
        found = session.get(Batch, batch.id if isinstance(batch, Batch) else batch)
        if found is None:
            raise MemberkitError(f"no batch {batch}", hint="start the run without a batch")
        if found.state == "done":
            raise MemberkitError(
                f"batch {found.id} ({found.label or found.kind}) is already done",
                hint="start a new run to post again",
            )
        work.batch_id = found.id
        return found
    row = Batch(
        kind="bulk_posting",
        label=label,
        actor=work.actor,
        state="running",
        position=0,
        details="{}",
        started_at=work.now,
    )
    session.add(row)
    session.flush()
    work.batch_id = row.id
    return row


def _post_chunk(
    work: UnitOfWork,
    chunk: Sequence[BulkPosting],
    first: int,
    *,
    allow_negative: bool,
    emit_events: bool = True,
) -> tuple[list[PostingOutcome], int]:
    """The chunk's outcomes, in order, and how many due expiries loading it wrote."""
    zone = work.zone
    by_ref = _resolve_members(work, chunk)
    known = _known_ids(work, [p.member_id for p in chunk if p.member_id is not None])
    keys = [p.key for p in chunk if p.key is not None]
    stored = find_keys(work.session, keys) if keys else {}
    out: list[PostingOutcome | None] = [None] * len(chunk)
    todo: list[tuple[int, BulkPosting, int]] = []
    for offset, posting in enumerate(chunk):
        index = first + offset
        member_id = _member_of(posting, by_ref, known)
        if member_id is None:
            reason = f"no member with {_member_words(posting)}"
            out[offset] = PostingOutcome(index, "refused", reason=reason)
            continue
        if posting.set_to is None and posting.points == 0:
            out[offset] = PostingOutcome(index, "refused", reason="points must not be 0")
            continue
        try:
            check_source(posting.source)
            if posting.key is not None and posting.key in stored:
                entry = stored[posting.key]
                check_replay(posting.key, content_of(entry), entry.id, _content(posting, member_id))
                out[offset] = PostingOutcome(index, "replayed", entry_id=entry.id)
                continue
        except MemberkitError as exc:
            out[offset] = PostingOutcome(index, "refused", reason=exc.message, error=exc)
            continue
        todo.append((offset, posting, member_id))
    book = work.book
    before = len(book.pending_rows())
    credit_only = {m for _, p, m in todo if p.set_to is None and p.points > 0}
    needs_lots = {m for _, p, m in todo if p.set_to is not None or p.points < 0}
    book.load(credit_only - needs_lots, all_lots=False)
    book.load(needs_lots, all_lots=True)
    expired = len(book.pending_rows()) - before
    book.reserve_entry_ids(len(todo))
    # Events of the postings start here (those before are the due expiries'). The
    # book's outbox is the unit of work's list, shared across its books.
    events_from = len(book.outbox)
    for offset, posting, member_id in todo:
        index = first + offset
        try:
            out[offset] = _apply(book, posting, member_id, index, zone, allow_negative)
        except MemberkitError as exc:
            out[offset] = PostingOutcome(index, "refused", reason=exc.message, error=exc)
    if not emit_events:
        del book.outbox[events_from:]
    return [o for o in out if o is not None], expired


def _apply(
    book: LedgerBook,
    posting: BulkPosting,
    member_id: int,
    index: int,
    zone: ZoneInfo,
    default: bool,
) -> PostingOutcome:
    """Post one posting through the book; a ``MemberkitError`` refuses it (nothing written)."""
    if posting.key is not None:
        pending = book.pending_key(posting.key)
        if pending is not None:
            check_replay(
                posting.key, content_of(pending), pending["id"], _content(posting, member_id)
            )
            return PostingOutcome(index, "replayed", entry_id=int(pending["id"]))
    meta = NewEntry(
        source=posting.source,
        source_ref=posting.source_ref,
        public_note=posting.public_note,
        internal_note=posting.internal_note,
        key=posting.key,
        effective_at=to_utc(posting.effective_at, zone) if posting.effective_at else None,
        set_to=posting.set_to,
    )
    state = book.members[member_id]
    negative_ok = default if posting.allow_negative is None else posting.allow_negative
    points = posting.points
    if posting.set_to is not None:
        if posting.set_to < 0 and not negative_ok:
            raise MemberkitError(
                f"cannot set a negative balance ({posting.set_to}) without allow_negative"
            )
        points = set_balance_difference(state.balance, posting.set_to)
        if points == 0:
            if not records_unchanged_set(posting.key):
                return PostingOutcome(index, "applied")
            row = book.unchanged_set(state, expires_on=posting.expires_on, meta=meta)
            return PostingOutcome(index, "applied", entry_id=int(row["id"]))
        # A set reaches its target: a fall below zero was allowed by the check above.
        negative_ok = True
    if points > 0:
        row = book.credit(state, points, expires_on=posting.expires_on, meta=meta)
    else:
        row = book.debit(state, -points, allow_negative=negative_ok, meta=meta)
    return PostingOutcome(index, "applied", entry_id=int(row["id"]))


def _member_of(
    posting: BulkPosting, by_ref: dict[tuple[str, str], int], known: set[int]
) -> int | None:
    if posting.member_id is not None:
        return posting.member_id if posting.member_id in known else None
    if posting.email:
        return by_ref.get(("email", email_key(posting.email)))
    if posting.shopify_id:
        return by_ref.get(("shopify", posting.shopify_id))
    return None


def _member_words(posting: BulkPosting) -> str:
    if posting.member_id is not None:
        return f"internal id {posting.member_id}"
    if posting.email:
        return f"email {posting.email.strip()!r}"
    if posting.shopify_id:
        return f"Shopify customer id {posting.shopify_id}"
    return "no email or Shopify id given"
