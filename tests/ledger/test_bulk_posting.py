"""Bulk posting as imports use it: outcomes per posting, sets, members by email or Shopify id,
commits in chunks that let other writers in, and a crashed run resumed exactly once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from memberkit.services.ledger import points
from memberkit.services.ledger.bulk import BulkPosting, post_bulk
from memberkit.services.ledger.members import create_member
from memberkit.store.database import Database, open_database
from memberkit.store.models import Batch, LedgerEntry, OutboxEvent

from .conftest import ZONE

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
ACTOR = "cli:importer"


@pytest.fixture
def members(db: Database) -> list[int]:
    return [
        create_member(db, actor=ACTOR, email=f"m{i}@example.com", shopify_id=f"90{i}", now=NOW)
        for i in range(3)
    ]


def balances(db: Database, ids: list[int]) -> list[int]:
    return [points.get_balance(db, member=i)[1] for i in ids]


def test_sets_credits_and_debits_by_email_and_shopify_id(db: Database, members: list[int]) -> None:
    result = post_bulk(
        db,
        actor=ACTOR,
        postings=[
            BulkPosting(email="M0@Example.com ", points=100),
            BulkPosting(shopify_id="901", points=40),
            BulkPosting(members[0], set_to=30, key="set-0"),
            BulkPosting(members[1], set_to=40),  # already 40: nothing to post
            BulkPosting(email="nobody@example.com", points=5),
            BulkPosting(members[2], points=-15, allow_negative=True),
            BulkPosting(members[2], points=-1),  # no negative allowed for this one
        ],
        zone=ZONE,
        now=NOW,
        keep_outcomes=True,
    )
    assert [o.status for o in result.outcomes] == [
        "applied",
        "applied",
        "applied",
        "applied",
        "refused",
        "applied",
        "refused",
    ]
    assert result.outcomes[4].reason == "no member with email 'nobody@example.com'"
    assert (
        result.outcomes[6].reason is not None and "insufficient points" in result.outcomes[6].reason
    )
    assert result.outcomes[3].entry_id is None
    assert balances(db, members) == [30, 40, -15]
    assert (result.posted, result.refused) == (5, 2)


def test_a_set_below_zero_needs_allow_negative(db: Database, members: list[int]) -> None:
    result = post_bulk(
        db, actor=ACTOR, postings=[BulkPosting(members[0], set_to=-5)], zone=ZONE, now=NOW
    )
    assert result.refused == 1 and "negative balance" in (result.refusals[0].reason or "")
    allowed = post_bulk(
        db,
        actor=ACTOR,
        postings=[BulkPosting(members[0], set_to=-5, allow_negative=True)],
        zone=ZONE,
        now=NOW,
    )
    assert allowed.posted == 1 and balances(db, members[:1]) == [-5]


def test_a_key_reused_with_other_content_is_refused_not_raised(
    db: Database, members: list[int]
) -> None:
    post_bulk(db, actor=ACTOR, postings=[BulkPosting(members[0], 10, key="k1")], zone=ZONE, now=NOW)
    result = post_bulk(
        db,
        actor=ACTOR,
        postings=[BulkPosting(members[0], 11, key="k1"), BulkPosting(members[0], 10, key="k1")],
        zone=ZONE,
        now=NOW,
        keep_outcomes=True,
    )
    assert [o.status for o in result.outcomes] == ["refused", "replayed"]
    assert "idempotency key 'k1'" in (result.outcomes[0].reason or "")


def test_other_writers_get_in_between_chunks(
    db: Database, database_url: str, members: list[int]
) -> None:
    other = open_database(database_url)
    seen: list[int] = []

    def between_chunks(position: int) -> None:
        # A separate connection writes while the bulk run is between two chunks.
        points.add_points(
            other, actor="cli:someone", member=members[2], points=1, zone=ZONE, now=NOW
        )
        seen.append(position)

    try:
        result = post_bulk(
            db,
            actor=ACTOR,
            postings=[BulkPosting(members[i % 2], 1) for i in range(10)],
            zone=ZONE,
            now=NOW,
            chunk_size=3,
            on_chunk=between_chunks,
        )
    finally:
        other.dispose()
    assert seen == [3, 6, 9, 10]
    assert result.posted == 10 and balances(db, members) == [5, 5, 4]
    with db.read() as s:
        batch = s.get(Batch, result.batch_id)
        assert batch is not None and (batch.state, batch.position) == ("done", 10)
        assert set(s.scalars(select(LedgerEntry.batch_id).where(LedgerEntry.actor == ACTOR))) == {
            result.batch_id
        }


class Crash(Exception):
    pass


def test_a_crashed_run_resumes_after_its_last_chunk_exactly_once(
    db: Database, members: list[int]
) -> None:
    postings = [BulkPosting(members[i % 3], i + 1) for i in range(20)]
    expected = [sum(i + 1 for i in range(20) if i % 3 == m) for m in range(3)]

    def crash_after_two_chunks(position: int) -> None:
        if position == 8:
            raise Crash

    with pytest.raises(Crash):
        post_bulk(
            db,
            actor=ACTOR,
            postings=postings,
            zone=ZONE,
            now=NOW,
            chunk_size=4,
            label="crashing import",
            on_chunk=crash_after_two_chunks,
        )
    with db.read() as s:
        batch = s.scalars(select(Batch).where(Batch.label == "crashing import")).one()
        assert (batch.state, batch.position) == ("running", 8)
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 8
    resumed = post_bulk(
        db, actor=ACTOR, postings=postings, zone=ZONE, now=NOW, chunk_size=4, batch=batch.id
    )
    assert resumed.posted == 12 and resumed.batch_id == batch.id
    assert balances(db, members) == expected
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 20
        added = s.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.event_type == "points/added")
        )
        assert added == 20
    with pytest.raises(Exception, match="already done"):
        post_bulk(db, actor=ACTOR, postings=postings, zone=ZONE, now=NOW, batch=batch.id)


def test_a_crash_inside_a_chunk_loses_only_that_chunk(db: Database, members: list[int]) -> None:
    def postings():  # type: ignore[no-untyped-def]
        for i in range(10):
            if i == 6:
                raise Crash
            yield BulkPosting(members[0], 1)

    with pytest.raises(Crash):
        post_bulk(db, actor=ACTOR, postings=postings(), zone=ZONE, now=NOW, chunk_size=4)
    assert balances(db, members[:1]) == [4]


def test_a_member_changed_by_another_writer_between_chunks_is_read_again(
    db: Database, database_url: str, members: list[int]
) -> None:
    """The run reuses its member state across commits only while nobody else wrote."""
    other = open_database(database_url)

    def spend_between_chunks(position: int) -> None:
        points.deduct_points(
            other, actor="cli:till", member=members[0], points=2, zone=ZONE, now=NOW
        )

    try:
        post_bulk(
            db,
            actor=ACTOR,
            postings=[
                BulkPosting(members[0], 5, expires_on=dt.date(2027, 12, 31)) for _ in range(6)
            ],
            zone=ZONE,
            now=NOW,
            chunk_size=2,
            on_chunk=spend_between_chunks,
        )
        # A debit in the bulk run must see the lots as the other writer left them.
        post_bulk(
            db,
            actor=ACTOR,
            postings=[BulkPosting(members[0], -4), BulkPosting(members[0], -1)],
            zone=ZONE,
            now=NOW,
            chunk_size=1,
            on_chunk=spend_between_chunks,
        )
    finally:
        other.dispose()
    assert balances(db, members[:1]) == [30 - 3 * 2 - 5 - 2 * 2]
    with db.read() as s:
        from memberkit.store.models import Lot

        remaining = s.scalar(select(func.sum(Lot.remaining)).where(Lot.member_id == members[0]))
    assert remaining == 15
