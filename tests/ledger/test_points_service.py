"""The points service on both databases: postings, reversals, expiry, keys, as-of, bulk."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from memberkit.domain.ledger import (
    IdempotencyConflictError,
    InsufficientPointsError,
    LedgerError,
    ReversalError,
)
from memberkit.errors import InvalidValueError, NotFoundError
from memberkit.services.ledger import bulk as points_bulk
from memberkit.services.ledger import points
from memberkit.services.ledger.members import create_member
from memberkit.store.database import Database
from memberkit.store.models import AllocationRow, Debt, LedgerEntry, Lot, Member

from .conftest import ZONE

UTC = dt.UTC
NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def member(db: Database) -> int:
    return create_member(
        db, actor="test:suite", email="Ann.Lee@Example.com", shopify_id="7001", now=NOW
    )


def add(db: Database, member: int | str, n: int, **kw: object) -> points.PostingResult:
    kw.setdefault("now", NOW)
    return points.add_points(db, actor="test:suite", member=member, points=n, zone=ZONE, **kw)  # type: ignore[arg-type]


def deduct(db: Database, member: int | str, n: int, **kw: object) -> points.PostingResult:
    kw.setdefault("now", NOW)
    return points.deduct_points(db, actor="test:suite", member=member, points=n, zone=ZONE, **kw)  # type: ignore[arg-type]


def stored_state(db: Database, member_id: int) -> tuple[int, int, int, int]:
    """(member balance, sum of entries, sum of remaining lots, sum of unpaid debt)."""
    with db.read() as s:
        balance = s.scalar(select(Member.points_balance).where(Member.id == member_id))
        entries = s.scalar(
            select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
                LedgerEntry.member_id == member_id
            )
        )
        lots = s.scalar(
            select(func.coalesce(func.sum(Lot.remaining), 0)).where(Lot.member_id == member_id)
        )
        debt = s.scalar(
            select(func.coalesce(func.sum(Debt.unpaid), 0)).where(Debt.member_id == member_id)
        )
    return int(balance or 0), int(entries or 0), int(lots or 0), int(debt or 0)


def assert_consistent(db: Database, member_id: int, expected: int) -> None:
    balance, entries, lots, debt = stored_state(db, member_id)
    assert balance == entries == lots - debt == expected


def test_member_is_found_by_email_in_any_case_or_by_shopify_id(db: Database, member: int) -> None:
    assert add(db, "ann.lee@example.com", 10).member_id == member
    assert add(db, "  ANN.LEE@EXAMPLE.COM ", 10).member_id == member
    assert add(db, "7001", 10).balance == 30


def test_unknown_member_is_named_in_the_error(db: Database, member: int) -> None:
    with pytest.raises(NotFoundError, match=r"no member with email 'bob@example\.com'"):
        add(db, "bob@example.com", 10)
    with pytest.raises(NotFoundError, match="Shopify customer id '999'"):
        add(db, "999", 10)


def test_deduction_larger_than_balance_fails_and_writes_nothing(db: Database, member: int) -> None:
    add(db, member, 120)
    with pytest.raises(InsufficientPointsError) as caught:
        deduct(db, member, 200)
    assert "insufficient points for Ann.Lee@Example.com: balance 120, requested 200" in str(
        caught.value
    )
    assert_consistent(db, member, 120)


def test_debit_consumes_earliest_expiry_first_recorded_as_allocations(
    db: Database, member: int
) -> None:
    no_expiry = add(db, member, 100).entry
    late = add(db, member, 100, expires_on=dt.date(2027, 12, 31)).entry
    early = add(db, member, 100, expires_on=dt.date(2027, 6, 30)).entry
    assert no_expiry and late and early
    debit = deduct(db, member, 150).entry
    assert debit is not None
    assert debit.points == -150
    history = {e.id: e for e in points.history(db, member=member)}
    assert history[debit.id].allocations == ((early.id, 100), (late.id, 50))
    assert_consistent(db, member, 150)


def test_allow_negative_records_debt_that_later_credits_pay_first(
    db: Database, member: int
) -> None:
    add(db, member, 50)
    debit = deduct(db, member, 80, allow_negative=True)
    assert debit.balance == -30
    assert_consistent(db, member, -30)
    credit = add(db, member, 100)
    assert credit.balance == 70
    assert credit.entry is not None and debit.entry is not None
    history = {e.id: e for e in points.history(db, member=member)}
    # The debt is paid from the new lot, so its 30 points are traced to that debit.
    assert (credit.entry.id, 30) in history[debit.entry.id].allocations
    assert_consistent(db, member, 70)


def test_set_balance_posts_the_difference(db: Database, member: int) -> None:
    add(db, member, 40)
    up = points.set_balance(db, actor="test:suite", member=member, target=100, zone=ZONE, now=NOW)
    assert up.entry is not None and up.entry.points == 60 and up.entry.set_to == 100
    down = points.set_balance(db, actor="test:suite", member=member, target=25, zone=ZONE, now=NOW)
    assert down.entry is not None and down.entry.points == -75
    same = points.set_balance(db, actor="test:suite", member=member, target=25, zone=ZONE, now=NOW)
    assert same.entry is None and same.balance == 25
    assert_consistent(db, member, 25)


def test_set_balance_below_zero_needs_allow_negative(db: Database, member: int) -> None:
    with pytest.raises(InvalidValueError, match="negative balance"):
        points.set_balance(db, actor="test:suite", member=member, target=-5, zone=ZONE, now=NOW)


def test_replayed_key_returns_the_existing_entry(db: Database, member: int) -> None:
    first = add(db, member, 100, key="import-7:row-3", source="import", source_ref="7:3")
    again = add(db, member, 100, key="import-7:row-3", source="import", source_ref="7:3")
    assert again.replayed and again.entry is not None and first.entry is not None
    assert again.entry.id == first.entry.id
    assert_consistent(db, member, 100)


def test_key_reused_with_other_content_is_an_error_naming_the_key(
    db: Database, member: int
) -> None:
    add(db, member, 100, key="k-1")
    with pytest.raises(IdempotencyConflictError, match=r"'k-1'.*points 100 then 150"):
        add(db, member, 150, key="k-1")
    with pytest.raises(IdempotencyConflictError, match="kind 'credit' then 'debit'"):
        deduct(db, member, 100, key="k-1")


def test_set_balance_replay_matches_on_the_target(db: Database, member: int) -> None:
    add(db, member, 10)
    first = points.set_balance(
        db, actor="test:suite", member=member, target=50, zone=ZONE, key="s1", now=NOW
    )
    add(db, member, 5)
    again = points.set_balance(
        db, actor="test:suite", member=member, target=50, zone=ZONE, key="s1", now=NOW
    )
    assert again.replayed and again.entry == first.entry
    with pytest.raises(IdempotencyConflictError, match="set_to 50 then 60"):
        points.set_balance(
            db, actor="test:suite", member=member, target=60, zone=ZONE, key="s1", now=NOW
        )


def test_credit_reversal_only_while_unspent(db: Database, member: int) -> None:
    credit = add(db, member, 100).entry
    assert credit is not None
    deduct(db, member, 1)
    with pytest.raises(ReversalError, match="1 of its 100 points are already spent"):
        points.reverse_entry(db, actor="test:suite", entry_id=credit.id, zone=ZONE, now=NOW)
    other = add(db, member, 40).entry
    assert other is not None
    reversal = points.reverse_entry(db, actor="test:suite", entry_id=other.id, zone=ZONE, now=NOW)
    assert reversal.entry is not None and reversal.entry.points == -40
    assert reversal.entry.reverses_id == other.id
    assert_consistent(db, member, 99)


def test_debit_reversal_restores_the_lots_it_consumed(db: Database, member: int) -> None:
    lot = add(db, member, 100, expires_on=dt.date(2027, 6, 30)).entry
    debit = deduct(db, member, 70).entry
    assert lot and debit
    reversal = points.reverse_entry(db, actor="test:suite", entry_id=debit.id, zone=ZONE, now=NOW)
    assert reversal.entry is not None and reversal.entry.points == 70
    assert reversal.balance == 100
    with db.read() as s:
        assert s.scalar(select(Lot.remaining).where(Lot.entry_id == lot.id)) == 100
    assert_consistent(db, member, 100)


def test_debit_reversal_leaves_expired_lots_expired(db: Database, member: int) -> None:
    short = add(db, member, 50, expires_on=dt.date(2027, 3, 31)).entry
    long = add(db, member, 50).entry
    debit = deduct(db, member, 80).entry
    assert short and long and debit
    later = dt.datetime(2027, 4, 15, tzinfo=UTC)
    reversal = points.reverse_entry(db, actor="test:suite", entry_id=debit.id, zone=ZONE, now=later)
    assert reversal.entry is not None
    assert reversal.entry.points == 30  # only the lot without expiry comes back
    assert "50 points from lots that have expired since" in (reversal.entry.internal_note or "")
    assert_consistent(db, member, 50)


def test_an_entry_is_reversed_at_most_once(db: Database, member: int) -> None:
    credit = add(db, member, 10).entry
    assert credit is not None
    first = points.reverse_entry(db, actor="test:suite", entry_id=credit.id, zone=ZONE, now=NOW)
    with pytest.raises(ReversalError, match=f"already reversed by entry {first.entry.id}"):  # type: ignore[union-attr]
        points.reverse_entry(db, actor="test:suite", entry_id=credit.id, zone=ZONE, now=NOW)
    with pytest.raises(ReversalError, match="reversal and cannot be reversed"):
        points.reverse_entry(db, actor="test:suite", entry_id=first.entry.id, zone=ZONE, now=NOW)  # type: ignore[union-attr]
    with pytest.raises(NotFoundError, match="no ledger entry 9999"):
        points.reverse_entry(db, actor="test:suite", entry_id=9999, zone=ZONE, now=NOW)


def test_reversing_a_debt_debit_cancels_the_debt(db: Database, member: int) -> None:
    debit = deduct(db, member, 30, allow_negative=True).entry
    assert debit is not None
    reversal = points.reverse_entry(db, actor="test:suite", entry_id=debit.id, zone=ZONE, now=NOW)
    assert reversal.balance == 0
    assert_consistent(db, member, 0)


def test_expire_writes_entries_once_for_lots_past_their_date(db: Database, member: int) -> None:
    add(db, member, 30, expires_on=dt.date(2027, 3, 31))
    add(db, member, 20, expires_on=dt.date(2027, 4, 1))
    add(db, member, 10)
    on_the_day = points.expire_points(db, zone=ZONE, today=dt.date(2027, 3, 31), now=NOW)
    assert on_the_day.entries == 0
    after = points.expire_points(db, zone=ZONE, today=dt.date(2027, 4, 1), now=NOW)
    assert (after.entries, after.points, after.members) == (1, 30, 1)
    again = points.expire_points(db, zone=ZONE, today=dt.date(2027, 4, 1), now=NOW)
    assert again.entries == 0
    assert_consistent(db, member, 30)
    expiry = next(e for e in points.history(db, member=member) if e.kind == "expiry")
    # Dated 00:00 after the expiry date, London time (BST on 1 April).
    assert expiry.effective_at == dt.datetime(2027, 3, 31, 23, 0, tzinfo=UTC)


def test_postings_first_expire_lots_that_have_fallen_due(db: Database, member: int) -> None:
    add(db, member, 30, expires_on=dt.date(2027, 3, 31))
    add(db, member, 20)
    later = dt.datetime(2027, 5, 1, tzinfo=UTC)
    with pytest.raises(InsufficientPointsError, match="balance 20, requested 25"):
        deduct(db, member, 25, now=later)
    result = deduct(db, member, 5, now=later)
    assert [e.points for e in result.expired] == [-30]
    assert result.balance == 15
    assert_consistent(db, member, 15)


def test_a_credit_cannot_expire_before_it_takes_effect(db: Database, member: int) -> None:
    with pytest.raises(LedgerError, match="would expire before it takes effect"):
        add(db, member, 10, expires_on=dt.date(2027, 2, 1))


def test_balance_as_of_sums_entries_effective_by_then(db: Database, member: int) -> None:
    add(db, member, 100, effective_at=dt.datetime(2027, 1, 10, 9, 0))  # a backfill, London time
    add(db, member, 50, effective_at=dt.datetime(2027, 2, 1, 0, 0, tzinfo=UTC))
    deduct(db, member, 30)
    assert points.get_balance(db, member=member)[1] == 120
    as_of = points.get_balance
    assert as_of(db, member=member, as_of=dt.datetime(2027, 1, 10, 8, 59, tzinfo=UTC))[1] == 0
    assert as_of(db, member=member, as_of=dt.datetime(2027, 1, 10, 9, 0, tzinfo=UTC))[1] == 100
    assert as_of(db, member=member, as_of=dt.datetime(2027, 2, 1, tzinfo=UTC))[1] == 150
    assert as_of(db, member=member, as_of=NOW)[1] == 120


def test_history_carries_notes_sources_and_running_balance(db: Database, member: int) -> None:
    add(db, member, 100, public_note="Thanks for joining", internal_note="ticket 42")
    deduct(db, member, 40, source="api", source_ref="order 1001")
    rows = points.history(db, member=member)
    assert [(e.kind, e.points, e.balance_after) for e in rows] == [
        ("credit", 100, 100),
        ("debit", -40, 60),
    ]
    assert rows[0].public_note == "Thanks for joining"
    assert rows[0].internal_note == "ticket 42"
    assert (rows[1].source, rows[1].source_ref) == ("api", "order 1001")


def test_unknown_source_is_refused(db: Database, member: int) -> None:
    with pytest.raises(InvalidValueError, match="unknown entry source 'web'"):
        add(db, member, 10, source="web")


def test_entries_are_append_only_allocations_balance_every_lot(db: Database, member: int) -> None:
    add(db, member, 100, expires_on=dt.date(2027, 6, 30))
    add(db, member, 100)
    deduct(db, member, 150)
    points.expire_points(db, zone=ZONE, today=dt.date(2027, 7, 1), now=NOW)
    with db.read() as s:
        for lot in s.scalars(select(Lot)):
            used = s.scalar(
                select(func.coalesce(func.sum(AllocationRow.points), 0)).where(
                    AllocationRow.lot_id == lot.entry_id
                )
            )
            assert lot.points == lot.remaining + int(used or 0)


def test_bulk_posting_applies_the_same_rules(db: Database, member: int) -> None:
    other = create_member(db, actor="test:suite", email="bo@example.com", now=NOW)
    result = points_bulk.post_bulk(
        db,
        actor="test:suite",
        postings=[
            points_bulk.BulkPosting(member, 100, key="b1"),
            points_bulk.BulkPosting(other, 50, expires_on=dt.date(2027, 6, 30), key="b2"),
            points_bulk.BulkPosting(member, -30, key="b3"),
            points_bulk.BulkPosting(other, -20),
            points_bulk.BulkPosting(member, 100, key="b1"),  # replay inside the batch
        ],
        zone=ZONE,
        now=NOW,
        chunk_size=2,
    )
    assert (result.posted, result.replayed) == (4, 1)
    assert_consistent(db, member, 70)
    assert_consistent(db, other, 30)
    again = points_bulk.post_bulk(
        db,
        actor="test:suite",
        postings=[points_bulk.BulkPosting(member, 100, key="b1")],
        zone=ZONE,
        now=NOW,
    )
    assert (again.posted, again.replayed) == (0, 1)


def test_a_refused_bulk_posting_is_reported_and_writes_nothing(db: Database, member: int) -> None:
    """Issue 7.4: per-posting outcomes instead of stopping at the first error."""
    result = points_bulk.post_bulk(
        db,
        actor="test:suite",
        postings=[points_bulk.BulkPosting(member, 10), points_bulk.BulkPosting(member, -20)],
        zone=ZONE,
        now=NOW,
    )
    assert (result.posted, result.refused) == (1, 1)
    (refusal,) = result.refusals
    assert refusal.position == 1 and refusal.status == "refused"
    assert refusal.reason is not None and refusal.reason.startswith("insufficient points")
    assert_consistent(db, member, 10)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 1


def test_a_key_taken_concurrently_by_another_member_is_reported_as_a_conflict(
    db: Database, member: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique index catches a race the key lookup cannot see; the retry reports it."""
    other = create_member(db, actor="test:suite", email="racer@example.com", now=NOW)
    add(db, other, 10, key="shared")
    real_find_keys = points.find_keys
    calls = []

    def blind_first_time(session: object, keys: object) -> object:
        calls.append(keys)
        return {} if len(calls) == 1 else real_find_keys(session, keys)  # type: ignore[arg-type]

    monkeypatch.setattr(points, "find_keys", blind_first_time)
    with pytest.raises(IdempotencyConflictError, match=r"'shared'.*member_id"):
        add(db, member, 10, key="shared")
    assert len(calls) == 2
    assert_consistent(db, member, 0)
