"""Redemption against the local Shopify: one code, one deduction, the code in the wallet, once."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from tests.integrations.shopify.helpers import SHOP, TOKEN, make_client
from tests.servers.shopify_server import FakeShopify

from memberkit.config import RewardDefinition
from memberkit.domain.ledger import InsufficientPointsError
from memberkit.integrations.shopify import (
    BasicDiscount,
    DiscountCreateResult,
    RetryPolicy,
    ShopifyClient,
    discount_code_basic_create,
)
from memberkit.secrets import forget_secrets
from memberkit.services.ledger.members import create_member
from memberkit.services.ledger.points import add_points, get_balance, history
from memberkit.services.redemption import (
    RedemptionConflict,
    RedemptionRefused,
    redeem,
    resume_pending,
)
from memberkit.store.database import Database
from memberkit.store.models import Member, OutboxEvent, Redemption

ZONE = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
ACTOR = "test:suite"
FIVE_OFF = RewardDefinition(
    "£5 off", 500, "fixed_amount", Decimal("5.00"), Decimal("25.00"), 30, "PTS5"
)


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    forget_secrets()
    fake = FakeShopify(shop=SHOP, tokens={TOKEN})
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
        forget_secrets()
    assert fake.internal_errors == [], fake.internal_errors[0]


@pytest.fixture
def client(shopify: FakeShopify) -> Iterator[ShopifyClient]:
    with make_client(shopify, retry=RetryPolicy(limit=1, delay_ms=1)) as c:
        yield c


@pytest.fixture
def ann(db: Database, shopify: FakeShopify) -> Database:
    customer = shopify.add_customer("ann@example.com")
    create_member(db, actor=ACTOR, email="ann@example.com", shopify_id=customer)
    add_points(db, actor=ACTOR, member="ann@example.com", points=800, zone=ZONE, now=NOW)
    return db


def creator(client: ShopifyClient) -> object:
    return lambda discount: discount_code_basic_create(client, discount)


def wallet(db: Database) -> list[dict[str, object]]:
    with db.read() as session:
        member = session.scalars(select(Member)).one()
        return list(json.loads(member.codes_available))


def go(db: Database, client: ShopifyClient, key: str = "k1", **kw: object) -> object:
    return redeem(
        db,
        member="ann@example.com",
        reward=kw.pop("reward", FIVE_OFF),  # type: ignore[arg-type]
        key=key,
        create_discount=kw.pop("create", creator(client)),  # type: ignore[arg-type]
        actor=ACTOR,
        zone=ZONE,
        now=NOW,
        **kw,  # type: ignore[arg-type]
    )


def test_a_redemption_creates_one_code_one_deduction_and_the_code_in_the_wallet(
    ann: Database, client: ShopifyClient, shopify: FakeShopify
) -> None:
    done = go(ann, client)
    assert done.state == "issued" and done.balance == 300  # type: ignore[attr-defined]
    code = done.code  # type: ignore[attr-defined]
    assert list(shopify.discounts) == [code.lower()]
    sent = shopify.discounts[code.lower()]
    with ann.read() as session:
        customer = session.scalars(select(Member.shopify_id)).one()
    assert sent["usageLimit"] == 1 and sent["customers"] == [f"gid://shopify/Customer/{customer}"]
    # Valid 30 days: the last day is 20 Dec; it ends at 00:00 on 21 Dec, London time.
    assert sent["endsAt"].startswith("2026-12-21T00:00:00")
    assert wallet(ann) == [
        {"code": code, "value": "5.00", "min_spend": "25.00", "expires": "2026-12-20"}
    ]
    debits = [e for e in history(ann, member="ann@example.com") if e.points < 0]
    assert [(e.points, e.source) for e in debits] == [(-500, "redemption")]
    with ann.read() as session:
        events = [e.event_type for e in session.scalars(select(OutboxEvent))]
    assert events.count("reward/issued") == 1


def test_the_same_key_again_makes_no_second_code(
    ann: Database, client: ShopifyClient, shopify: FakeShopify
) -> None:
    first = go(ann, client)
    again = go(ann, client)
    assert again.replayed and again.code == first.code  # type: ignore[attr-defined]
    assert len(shopify.discounts) == 1 and len(wallet(ann)) == 1
    assert get_balance(ann, member="ann@example.com")[1] == 300
    with pytest.raises(RedemptionConflict):
        go(ann, client, reward=RewardDefinition("10%", 100, "percentage", Decimal(10)))


def test_not_enough_points_changes_nothing_anywhere(
    ann: Database, client: ShopifyClient, shopify: FakeShopify
) -> None:
    big = RewardDefinition("£50 off", 5000, "fixed_amount", Decimal("50"))
    with pytest.raises(InsufficientPointsError):
        go(ann, client, reward=big)
    assert shopify.discounts == {} and wallet(ann) == []
    with ann.read() as session:
        assert session.scalars(select(Redemption)).all() == []


def test_a_shopify_refusal_gives_the_points_back_recorded(
    ann: Database, client: ShopifyClient, shopify: FakeShopify
) -> None:
    shopify.customers.clear()  # the customer is gone from Shopify: the code is refused
    with pytest.raises(RedemptionRefused, match="points were given back"):
        go(ann, client)
    assert get_balance(ann, member="ann@example.com")[1] == 800
    entries = [(e.points, e.source) for e in history(ann, member="ann@example.com")]
    assert entries[-2:] == [(-500, "redemption"), (500, "redemption")]
    assert wallet(ann) == [] and shopify.discounts == {}
    with ann.read() as session:
        row = session.scalars(select(Redemption)).one()
    assert row.state == "refused" and "does not exist" in (row.error or "")


def test_a_shopify_fault_mid_redemption_leaves_balance_and_codes_consistent(
    ann: Database, client: ShopifyClient, shopify: FakeShopify
) -> None:
    shopify.add_fault("status", status=503, times=10, match=b"discountCodeBasicCreate")
    with pytest.raises(RedemptionRefused):
        go(ann, client)
    assert get_balance(ann, member="ann@example.com")[1] == 800
    assert wallet(ann) == [] and shopify.discounts == {}
    shopify.faults.clear()
    done = go(ann, client)  # the same key, once Shopify is back
    assert done.state == "issued" and len(shopify.discounts) == 1  # type: ignore[attr-defined]
    assert get_balance(ann, member="ann@example.com")[1] == 300 and len(wallet(ann)) == 1


def test_a_crash_after_shopify_created_the_code_is_finished_by_resume(
    ann: Database, client: ShopifyClient, shopify: FakeShopify
) -> None:
    class Crash(BaseException):
        pass

    def create_then_crash(discount: BasicDiscount) -> DiscountCreateResult:
        discount_code_basic_create(client, discount)
        raise Crash

    with pytest.raises(Crash):
        go(ann, client, create=create_then_crash)
    # Between the two steps: points deducted, code in Shopify, not yet in the wallet.
    assert get_balance(ann, member="ann@example.com")[1] == 300 and wallet(ann) == []
    resumed = resume_pending(ann, create_discount=creator(client), zone=ZONE, now=NOW)  # type: ignore[arg-type]
    assert (resumed.issued, resumed.refused, resumed.still_pending) == (1, 0, 0)
    assert len(shopify.discounts) == 1 and len(wallet(ann)) == 1
    assert wallet(ann)[0]["code"] == next(iter(shopify.discounts.values()))["code"]
    assert get_balance(ann, member="ann@example.com")[1] == 300
    assert resume_pending(ann, create_discount=creator(client), zone=ZONE, now=NOW).issued == 0  # type: ignore[arg-type]


def test_a_crash_before_shopify_is_finished_by_resume_with_the_same_code(
    ann: Database, client: ShopifyClient, shopify: FakeShopify
) -> None:
    def crash(discount: BasicDiscount) -> DiscountCreateResult:
        raise SystemExit(1)

    with pytest.raises(SystemExit):
        go(ann, client, create=crash)
    assert shopify.discounts == {}
    resume_pending(ann, create_discount=creator(client), zone=ZONE, now=NOW)  # type: ignore[arg-type]
    assert len(shopify.discounts) == 1 and len(wallet(ann)) == 1


def test_a_code_taken_in_shopify_is_replaced_by_a_new_one(
    ann: Database, client: ShopifyClient, shopify: FakeShopify
) -> None:
    numbers = count()

    def entropy(size: int) -> bytes:
        # The first code drawn is one Shopify already has; then another.
        return bytes([0 if next(numbers) < 1 else 7] * size)

    taken = "PTS5-2222-2222"
    shopify.discounts[taken.lower()] = {"code": taken}
    done = go(ann, client, entropy=entropy)
    assert done.code != taken and done.state == "issued"  # type: ignore[attr-defined]
    assert sorted(shopify.discounts) == sorted([taken.lower(), done.code.lower()])  # type: ignore[attr-defined]
    assert wallet(ann)[0]["code"] == done.code  # type: ignore[attr-defined]


def test_a_percentage_reward_is_sent_as_a_share_and_marked_in_the_wallet(
    ann: Database, client: ShopifyClient, shopify: FakeShopify
) -> None:
    ten = RewardDefinition("10% off", 300, "percentage", Decimal(10), None, 14, "PCT")
    done = go(ann, client, reward=ten)
    sent = shopify.discounts[done.code.lower()]["input"]  # type: ignore[attr-defined]
    assert sent["customerGets"]["value"] == {"percentage": 0.1}
    assert wallet(ann)[0]["value_type"] == "percentage" and wallet(ann)[0]["min_spend"] is None
