"""``memberkit rewards redeem`` end to end against the local Shopify, then the rewards update.

The redeemed code lands in Shopify once, in the member's wallet once, and the next
``rewards update`` treats it like any other code: used when an order uses it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.integrations.shopify.helpers import SHOP, TOKEN
from tests.servers.shopify_server import FakeShopify

from memberkit.services.ledger.members import create_member
from memberkit.store.database import open_database
from memberkit.store.models import Member

CATALOGUE = """
[[rewards.catalogue]]
name = "5 off"
points_cost = 500
value_type = "fixed_amount"
value = "5.00"
min_spend = "25.00"
validity_days = 30
code_prefix = "PTS5"
"""


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    fake = FakeShopify(shop=SHOP, tokens={TOKEN})
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def store(database_url: str, tmp_path: Path, shopify: FakeShopify) -> Path:
    customer = shopify.add_customer("ann@example.com")
    config = tmp_path / "memberkit.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n'
        f'[shopify]\nshop = "{SHOP}"\nbase_url = "{shopify.url}"\n' + CATALOGUE,
        encoding="utf-8",
    )
    db = open_database(database_url)
    create_member(db, actor="test:suite", email="ann@example.com", shopify_id=customer)
    db.dispose()
    return config


def memberkit(
    config: Path, *args: str, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "SHOPIFY_"))}
    if token:
        env["SHOPIFY_ACCESS_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "memberkit", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def member_row(config: Path) -> Member:
    url = config.read_text(encoding="utf-8").split('"')[1]
    db = open_database(url)
    try:
        with db.read() as session:
            member = session.scalars(select(Member)).one()
            session.expunge(member)
            return member
    finally:
        db.dispose()


def test_a_redemption_through_the_cli_makes_one_code_and_the_update_then_uses_it(
    store: Path, shopify: FakeShopify, tmp_path: Path
) -> None:
    assert memberkit(store, "points", "add", "ann@example.com", "700").returncode == 0
    first = memberkit(
        store, "rewards", "redeem", "ann@example.com", "5 OFF", "--key", "k1", "--json"
    )
    assert first.returncode == 0, first.stderr
    done = json.loads(first.stdout)
    assert done["state"] == "issued" and done["balance"] == 200 and not done["replayed"]
    again = memberkit(store, "rewards", "redeem", "ann@example.com", "5 off", "--key", "k1")
    assert again.returncode == 0, again.stderr
    assert "replayed" in again.stdout and done["code"] in again.stdout
    assert list(shopify.discounts) == [done["code"].lower()]
    member = member_row(store)
    assert [c["code"] for c in json.loads(member.codes_available)] == [done["code"]]
    assert member.points_balance == 200
    assert done["wallet_pushed"] is True
    pushed = shopify.metafield(
        f"gid://shopify/Customer/{member.shopify_id}", "alpkit", "discountcodes_2021"
    )
    assert pushed is not None and json.loads(pushed["value"]) == json.loads(member.codes_available)

    # Shopify now holds the code in the member's metafield (pushed), so the next
    # customers export has it; an order this week used it.
    wallet = member.codes_available
    inputs = tmp_path / "input"
    inputs.mkdir()
    with (inputs / "customers_export.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "ID",
                "Email",
                "First Name",
                "State",
                "Created At",
                "Metafield: alpkit.discountcodes_2021 [json]",
                "Metafield: alpkit.usedcodes_2021 [json]",
                "Metafield: alpkit.expiredcodes_2021 [json]",
            ]
        )
        writer.writerow(
            [member.shopify_id, "ann@example.com", "Ann", "enabled", "2021-03-04", wallet, "", ""]
        )
    with (inputs / "discounts_export.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Name", "Email", "Created at", "Discount Code", "Subtotal"])
        writer.writerow(
            ["#2001", "ann@example.com", "2026-11-21 10:00:00 +0000", done["code"], "30"]
        )
    update = memberkit(store, "rewards", "update", "--today", "2026-11-22")
    assert update.returncode == 0, update.stderr
    member = member_row(store)
    assert json.loads(member.codes_available) == []
    assert [c["code"] for c in json.loads(member.codes_used)] == [done["code"]]


def test_an_unknown_reward_or_a_missing_token_is_one_line(store: Path) -> None:
    unknown = memberkit(store, "rewards", "redeem", "ann@example.com", "free tent")
    assert unknown.returncode == 1
    assert "no reward 'free tent' in the catalogue (rewards: '5 off')" in unknown.stderr
    no_token = memberkit(store, "rewards", "redeem", "ann@example.com", "5 off", token=None)
    assert no_token.returncode == 2 and "SHOPIFY_ACCESS_TOKEN is not set" in no_token.stderr
    assert "Traceback" not in unknown.stderr + no_token.stderr


def test_not_enough_points_through_the_cli_makes_no_code(store: Path, shopify: FakeShopify) -> None:
    result = memberkit(store, "rewards", "redeem", "ann@example.com", "5 off")
    assert result.returncode == 1 and "insufficient points" in result.stderr
    assert shopify.discounts == {}
