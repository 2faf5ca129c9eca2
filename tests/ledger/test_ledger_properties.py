"""Random sequences of add / deduct / set / expire / reverse / replay, on both databases.

After every step the stored ledger must satisfy the issue's invariants:

* balance = remaining lots - unpaid debt, and >= 0 unless an overdraft was allowed;
* every lot's points = its remaining + what allocations took from it
  (spent by debits, expired, taken back by a credit reversal);
* credits = debits + expired + balance (net of reversals), and the debited
  points are exactly those allocated from lots plus those still owed;
* replaying a key changes nothing;
* the balance as of any time equals a replay of the history up to that time.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select, text

from memberkit.domain.ledger import InsufficientPointsError, LedgerError, ReversalError
from memberkit.services.ledger import points
from memberkit.services.ledger.members import create_member
from memberkit.store.database import Database, open_database
from memberkit.store.models import AllocationRow, Base, Debt, LedgerEntry, Lot, Member

from .conftest import ZONE

UTC = dt.UTC
START = dt.datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


def reset(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.is_postgresql:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


class LedgerMachine(RuleBasedStateMachine):
    db: ClassVar[Database]

    def __init__(self) -> None:
        super().__init__()
        reset(self.db)
        self.now = START
        self.member = create_member(
            self.db, actor="test:suite", email="prop@example.com", now=START
        )
        self.keyed: dict[str, tuple[str, int, dt.date | None]] = {}
        self.entry_ids: list[int] = []
        self.overdraft_allowed = False
        self.serial = 0

    # --- helpers -----------------------------------------------------------------------

    def _key(self, use_key: bool) -> str | None:
        if not use_key:
            return None
        self.serial += 1
        return f"key-{self.serial}"

    def _available_now(self) -> int:
        with self.db.read() as s:
            total = s.scalar(
                select(func.coalesce(func.sum(Lot.remaining), 0)).where(
                    Lot.member_id == self.member,
                    (Lot.expires_at.is_(None)) | (Lot.expires_at > self.now),
                )
            )
        return int(total or 0)

    def _snapshot(self) -> tuple[int, int]:
        with self.db.read() as s:
            balance = s.scalar(select(Member.points_balance).where(Member.id == self.member))
            count = s.scalar(select(func.count()).select_from(LedgerEntry))
        return int(balance or 0), int(count or 0)

    def _record(self, result: points.PostingResult) -> None:
        if result.entry is not None:
            self.entry_ids.append(result.entry.id)

    # --- rules -------------------------------------------------------------------------

    @rule(
        n=st.integers(1, 200),
        expiry_days=st.none() | st.integers(0, 60),
        use_key=st.booleans(),
        backdate_hours=st.integers(0, 48),
    )
    def add(self, n: int, expiry_days: int | None, use_key: bool, backdate_hours: int) -> None:
        expires_on = (
            (self.now.astimezone(ZONE).date() + dt.timedelta(days=expiry_days))
            if expiry_days is not None
            else None
        )
        key = self._key(use_key)
        result = points.add_points(
            self.db,
            actor="test:suite",
            member=self.member,
            points=n,
            zone=ZONE,
            expires_on=expires_on,
            key=key,
            effective_at=self.now - dt.timedelta(hours=backdate_hours) if expiry_days else None,
            now=self.now,
        )
        self._record(result)
        if key:
            self.keyed[key] = ("add", n, expires_on)

    @rule(n=st.integers(1, 300), allow_negative=st.booleans(), use_key=st.booleans())
    def deduct(self, n: int, allow_negative: bool, use_key: bool) -> None:
        available = self._available_now()
        key = self._key(use_key)
        try:
            result = points.deduct_points(
                self.db,
                actor="test:suite",
                member=self.member,
                points=n,
                zone=ZONE,
                allow_negative=allow_negative,
                key=key,
                now=self.now,
            )
        except InsufficientPointsError:
            assert not allow_negative and n > available
            return
        assert allow_negative or n <= available
        if n > available:
            self.overdraft_allowed = True
        self._record(result)
        if key:
            self.keyed[key] = ("deduct", n, None)

    @rule(wanted=st.integers(0, 300), use_key=st.booleans())
    def set_balance(self, wanted: int, use_key: bool) -> None:
        key = self._key(use_key)
        result = points.set_balance(
            self.db,
            actor="test:suite",
            member=self.member,
            target=wanted,
            zone=ZONE,
            key=key,
            now=self.now,
        )
        assert result.balance == wanted
        self._record(result)
        if key:
            self.keyed[key] = ("set", wanted, None)

    @rule(days=st.integers(0, 40))
    def expire(self, days: int) -> None:
        today = self.now.astimezone(ZONE).date() + dt.timedelta(days=days)
        points.expire_points(self.db, zone=ZONE, today=today, now=self.now)
        before = self._snapshot()
        again = points.expire_points(self.db, zone=ZONE, today=today, now=self.now)
        assert again.entries == 0 and self._snapshot() == before

    @precondition(lambda self: bool(self.entry_ids))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        entry_id = data.draw(st.sampled_from(self.entry_ids))
        try:
            result = points.reverse_entry(
                self.db, actor="test:suite", entry_id=entry_id, zone=ZONE, now=self.now
            )
        except (ReversalError, LedgerError):
            return
        self._record(result)

    @precondition(lambda self: bool(self.keyed))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.keyed)))
        kind, n, expires_on = self.keyed[key]
        before = self._snapshot()
        if kind == "add":
            result = points.add_points(
                self.db,
                actor="test:suite",
                member=self.member,
                points=n,
                zone=ZONE,
                expires_on=expires_on,
                key=key,
                now=self.now,
            )
        elif kind == "set":
            result = points.set_balance(
                self.db,
                actor="test:suite",
                member=self.member,
                target=n,
                zone=ZONE,
                key=key,
                now=self.now,
            )
        else:
            result = points.deduct_points(
                self.db,
                actor="test:suite",
                member=self.member,
                points=n,
                zone=ZONE,
                key=key,
                allow_negative=True,
                now=self.now,
            )
        assert result.replayed
        assert self._snapshot() == before

    @rule(days=st.integers(1, 30), hours=st.integers(0, 23))
    def advance_clock(self, days: int, hours: int) -> None:
        self.now += dt.timedelta(days=days, hours=hours)

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def ledger_is_consistent(self) -> None:
        with self.db.read() as s:
            balance = int(
                s.scalar(select(Member.points_balance).where(Member.id == self.member)) or 0
            )
            lots = list(s.scalars(select(Lot)))
            debt = int(s.scalar(select(func.coalesce(func.sum(Debt.unpaid), 0))) or 0)
            entries = {e.id: e for e in s.scalars(select(LedgerEntry))}
            allocations = list(s.scalars(select(AllocationRow)))

        remaining = sum(lot.remaining for lot in lots)
        assert balance == remaining - debt
        assert balance == sum(e.points for e in entries.values())
        if not self.overdraft_allowed:
            assert balance >= 0
        # A member never holds unspent points while owing points.
        assert debt == 0 or remaining == 0

        taken: dict[int, int] = {}
        by_kind: dict[str, int] = {"debit": 0, "expiry": 0, "credit_reversal": 0, "restored": 0}
        for a in allocations:
            taken[a.lot_id] = taken.get(a.lot_id, 0) + a.points
            entry = entries[a.entry_id]
            if entry.kind == "reversal":
                original = entries[entry.reverses_id]  # type: ignore[index]
                bucket = "credit_reversal" if original.kind == "credit" else "restored"
            else:
                bucket = entry.kind
            by_kind[bucket] += a.points
        for lot in lots:
            assert lot.points == lot.remaining + taken.get(lot.entry_id, 0)

        def reversal_points(of_kind: str) -> int:
            return sum(
                e.points
                for e in entries.values()
                if e.kind == "reversal" and entries[e.reverses_id].kind == of_kind  # type: ignore[index]
            )

        credits = sum(e.points for e in entries.values() if e.kind == "credit")
        credits += reversal_points("credit")
        debits = -sum(e.points for e in entries.values() if e.kind == "debit")
        debits -= reversal_points("debit")
        expired = -sum(e.points for e in entries.values() if e.kind == "expiry")
        assert credits == debits + expired + balance
        assert expired == by_kind["expiry"]
        # Every debited point came from a lot or is still owed.
        assert debits == by_kind["debit"] + by_kind["restored"] + debt

    @invariant()
    def as_of_balance_replays_history(self) -> None:
        history = points.history(self.db, member=self.member)
        if not history:
            return
        for probe in {history[0].effective_at, history[len(history) // 2].effective_at, self.now}:
            replayed = sum(e.points for e in history if e.effective_at <= probe)
            balance = points.get_balance(self.db, member=self.member, as_of=probe, now=self.now)
            assert balance[1] == replayed
        assert history[-1].balance_after == self._snapshot()[0]


def run_machine(database_url: str, examples: int) -> None:
    db = open_database(database_url)
    LedgerMachine.db = db
    try:
        test_case = LedgerMachine.TestCase
        test_case.settings = settings(
            max_examples=examples,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        test_case("runTest").runTest()
    finally:
        db.dispose()


def test_random_postings_keep_the_ledger_invariants(database_url: str) -> None:
    run_machine(database_url, examples=50)


def _steps(machine: LedgerMachine, steps: list[tuple[str, dict[str, object]]]) -> None:
    """Run ``steps`` on ``machine`` as Hypothesis would, checking the invariants after each."""
    try:
        for name, kwargs in steps:
            getattr(machine, name)(**kwargs)
            machine.ledger_is_consistent()
            machine.as_of_balance_replays_history()
    finally:
        machine.teardown()


class _Pick:
    """Stands in for ``st.data()``: draws the first element, or the one asked for."""

    def __init__(self, index: int = 0) -> None:
        self.index = index

    def draw(self, strategy: object) -> object:
        elements = strategy.elements  # type: ignore[attr-defined]
        return list(elements)[self.index]


def test_a_reversal_that_gives_points_back_to_an_expired_lot_is_not_expired_twice(
    database_url: str,
) -> None:
    """Found by the machine above: deduct from a lot, expire it (a run dated in the future),
    reverse the deduction, expire again. The reversal gave points back to a lot whose expiry
    was already written, and the second expiry reused its key ``expiry:lot:N``
    (``UNIQUE constraint failed: ledger_entries.idempotency_key``). Points lent by a lot
    that has expired, by its date or by an expiry run, stay expired."""
    db = open_database(database_url)
    LedgerMachine.db = db
    try:
        machine = LedgerMachine()
        _steps(
            machine,
            [
                ("add", {"n": 10, "expiry_days": 5, "use_key": False, "backdate_hours": 0}),
                ("deduct", {"n": 4, "allow_negative": False, "use_key": False}),
                ("expire", {"days": 10}),
                ("reverse", {"data": _Pick(1)}),
                ("expire", {"days": 10}),
                ("advance_clock", {"days": 7, "hours": 0}),
                ("expire", {"days": 0}),
            ],
        )
        entries = points.history(db, member=machine.member)
        with db.read() as s:
            lot = s.get(Lot, machine.entry_ids[0])
            assert lot is not None and lot.remaining == 0
        assert [e.kind for e in entries].count("expiry") == 1
        (reversal,) = [e for e in entries if e.kind == "reversal"]
        assert reversal.points == 0
        assert reversal.internal_note is not None and "4 points" in reversal.internal_note
    finally:
        db.dispose()
