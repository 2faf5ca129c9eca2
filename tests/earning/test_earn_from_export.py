"""Earning from the orders export: once per order, pending then released, refunds take back."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from tests.earning.conftest import order_rows, write_orders

from memberkit.config import EarningSettings
from memberkit.services.earning.balance import earning_balance
from memberkit.services.earning.export import ExportEarningResult, earn_from_export
from memberkit.services.earning.release import release_due
from memberkit.services.ledger.members import create_member
from memberkit.services.ledger.points import deduct_points, get_balance, history
from memberkit.store.database import Database
from memberkit.store.models import LedgerEntry, OrderEarning

ZONE = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
ACTOR = "test:suite"


@pytest.fixture
def members(db: Database) -> Database:
    create_member(db, actor=ACTOR, email="ann@example.com", shopify_id="7001")
    create_member(db, actor=ACTOR, email="bob@example.com", shopify_id="7002")
    return db


def earn(
    db: Database,
    path: Path,
    tmp_path: Path,
    *,
    now: dt.datetime = NOW,
    dry_run: bool = False,
    **settings: object,
) -> ExportEarningResult:
    return earn_from_export(
        db,
        path=path,
        earning=EarningSettings(**settings),  # type: ignore[arg-type]
        currency="GBP",
        zone=ZONE,
        actor=ACTOR,
        output_dir=tmp_path / "output",
        dry_run=dry_run,
        now=now,
        chunk_size=2,
    )


def test_an_export_earned_twice_awards_once(members: Database, tmp_path: Path) -> None:
    path = write_orders(
        tmp_path / "orders.csv",
        [
            order_rows("#1001", "Ann@Example.com", "42.99"),
            order_rows("#1002", "bob@example.com", "10.00"),
        ],
    )
    first = earn(members, path, tmp_path, pending_days=0)
    assert (first.summary.earned, first.summary.points_earned, first.rows) == (2, 52, 4)
    again = earn(members, path, tmp_path, pending_days=0)
    assert again.summary.earned == 0 and again.summary.already_earned == 2
    assert get_balance(members, member="ann@example.com") == (1, 42)
    with members.read() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 2


def test_earned_points_are_pending_until_the_period_ends(members: Database, tmp_path: Path) -> None:
    path = write_orders(tmp_path / "o.csv", [order_rows("#1001", "ann@example.com", "42.99")])
    result = earn(members, path, tmp_path)  # pending_days = 14
    assert result.summary.points_earned == 42 and result.summary.points_released == 0
    _, now = earning_balance(members, member="ann@example.com", now=NOW)
    assert (now.available, now.pending) == (0, 42)
    # Spending pending points is refused: they are not in the ledger yet.
    with pytest.raises(Exception, match="insufficient points"):
        deduct_points(members, actor=ACTOR, member="ann@example.com", points=1, zone=ZONE, now=NOW)
    later = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)  # placed 18 Nov + 14 days
    _, ahead = earning_balance(members, member="ann@example.com", as_of=later, now=NOW)
    assert (ahead.available, ahead.pending) == (42, 0)
    assert release_due(members, zone=ZONE, now=NOW).orders == 0
    released = release_due(members, zone=ZONE, now=later)
    assert (released.orders, released.points) == (1, 42)
    assert release_due(members, zone=ZONE, now=later).orders == 0  # idempotent
    assert get_balance(members, member="ann@example.com") == (1, 42)
    [entry] = history(members, member="ann@example.com")
    assert entry.source == "order" and entry.source_ref == "#1001"
    assert entry.effective_at == dt.datetime(2026, 12, 2, 9, 14, 2, tzinfo=dt.UTC)


def test_a_refund_seen_later_takes_points_back_in_proportion(
    members: Database, tmp_path: Path
) -> None:
    paid = write_orders(tmp_path / "a.csv", [order_rows("#1001", "ann@example.com", "100.00")])
    earn(members, paid, tmp_path, pending_days=0)
    refunded = write_orders(
        tmp_path / "b.csv",
        [
            order_rows(
                "#1001",
                "ann@example.com",
                "100.00",
                status="partially_refunded",
                refunded="40.00",
            )
        ],
    )
    result = earn(members, refunded, tmp_path, pending_days=0)
    assert (result.summary.reversed, result.summary.points_taken) == (1, 40)
    assert earn(members, refunded, tmp_path, pending_days=0).summary.reversed == 0
    assert get_balance(members, member="ann@example.com")[1] == 60
    cancelled = write_orders(
        tmp_path / "c.csv",
        [
            order_rows(
                "#1001",
                "ann@example.com",
                "100.00",
                status="partially_refunded",
                refunded="40.00",
                cancelled="2026-11-19 10:00:00 +0000",
            )
        ],
    )
    assert earn(members, cancelled, tmp_path, pending_days=0).summary.points_taken == 60
    assert get_balance(members, member="ann@example.com")[1] == 0
    debits = [e for e in history(members, member="ann@example.com") if e.points < 0]
    assert [(e.points, e.source) for e in debits] == [(-40, "order"), (-60, "order")]


def test_a_refund_of_spent_points_leaves_a_debt_not_more_than_earned(
    members: Database, tmp_path: Path
) -> None:
    path = write_orders(tmp_path / "a.csv", [order_rows("#1001", "ann@example.com", "50.00")])
    earn(members, path, tmp_path, pending_days=0)
    deduct_points(members, actor=ACTOR, member="ann@example.com", points=50, zone=ZONE, now=NOW)
    gone = write_orders(
        tmp_path / "b.csv",
        [order_rows("#1001", "ann@example.com", "50.00", status="refunded", refunded="54.99")],
    )
    assert earn(members, gone, tmp_path, pending_days=0).summary.points_taken == 50
    assert get_balance(members, member="ann@example.com")[1] == -50


def test_a_refund_while_pending_lowers_what_is_released(members: Database, tmp_path: Path) -> None:
    earn(
        members,
        write_orders(tmp_path / "a.csv", [order_rows("#1001", "ann@example.com", "80.00")]),
        tmp_path,
    )
    refund = order_rows(
        "#1001", "ann@example.com", "80.00", status="partially_refunded", refunded="20.00"
    )
    earn(members, write_orders(tmp_path / "b.csv", [refund]), tmp_path)
    _, balance = earning_balance(members, member="ann@example.com", now=NOW)
    assert (balance.available, balance.pending) == (0, 60)
    later = NOW + dt.timedelta(days=30)
    assert release_due(members, zone=ZONE, now=later).points == 60


def test_skips_are_counted_by_reason_and_first_order_bonus_is_once(
    members: Database, tmp_path: Path
) -> None:
    path = write_orders(
        tmp_path / "o.csv",
        [
            order_rows("#1001", "ann@example.com", "10.00"),
            order_rows("#1002", "ann@example.com", "10.00"),
            order_rows("#1003", "ann@example.com", "99.00", status="pending"),
            order_rows("#1004", "ann@example.com", "99.00", tags="wholesale, b2b"),
            order_rows("#1005", "ann@example.com", "99.00", code="STAFF"),
            order_rows("#1006", "ann@example.com", "2.00"),
        ],
    )
    result = earn(
        members,
        path,
        tmp_path,
        pending_days=0,
        first_order_bonus=100,
        excluded_tags=("Wholesale",),
        excluded_codes=("staff",),
        min_subtotal=Decimal("5"),
    )
    assert result.summary.earned == 2 and result.summary.points_earned == 120
    assert dict(result.summary.skipped) == {
        "not_paid": 1,
        "excluded_tag": 1,
        "excluded_code": 1,
        "below_minimum": 1,
    }
    # An order skipped for not being paid earns once it is paid.
    paid = write_orders(tmp_path / "p.csv", [order_rows("#1003", "ann@example.com", "99.00")])
    assert earn(members, paid, tmp_path, pending_days=0).summary.points_earned == 99


def test_unknown_members_other_currencies_and_unreadable_rows_are_rejected(
    members: Database, tmp_path: Path
) -> None:
    path = write_orders(
        tmp_path / "o.csv",
        [
            order_rows("#1001", "nobody@example.com", "10.00"),
            order_rows("#1002", "ann@example.com", "10.00", currency="EUR"),
            order_rows("#1003", "ann@example.com", "=HYPERLINK(1)"),
            order_rows("#1004", "ann@example.com", "10.00", created="yesterday"),
            order_rows("#1005", "ann@example.com", "10.00"),
        ],
    )
    result = earn(members, path, tmp_path, pending_days=0)
    assert result.summary.rejected == 4 and result.summary.earned == 1
    assert result.rejects_file is not None
    with result.rejects_file.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][-1] == "Failure Reason"
    reasons = {row[0]: row[-1] for row in rows[1:]}
    assert set(reasons) == {"#1001", "#1002", "#1003", "#1004"}
    assert "no member with email 'nobody@example.com'" in reasons["#1001"]
    assert reasons["#1002"].startswith("Currency: EUR is not the store's currency GBP")
    assert reasons["#1003"].startswith("Subtotal: ")
    assert reasons["#1004"].startswith("Created at: ")
    # Formula-safe: the cell that looked like a formula is neutralised.
    assert next(row for row in rows if row[0] == "#1003")[5].startswith("'=")


def test_a_dry_run_writes_nothing(members: Database, tmp_path: Path) -> None:
    path = write_orders(tmp_path / "o.csv", [order_rows("#1001", "ann@example.com", "10.00")])
    result = earn(members, path, tmp_path, pending_days=0, dry_run=True)
    assert result.summary.earned == 1 and result.summary.points_released == 10
    with members.read() as session:
        assert session.scalar(select(func.count()).select_from(OrderEarning)) == 0
    assert get_balance(members, member="ann@example.com")[1] == 0
