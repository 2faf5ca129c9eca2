"""``shopify push``: members' metafields written through metafieldsSet or a bulk mutation."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update
from tests.integrations.shopify.helpers import TOKEN, make_client
from tests.ledger.conftest import ZONE
from tests.servers.shopify_server import FakeShopify

from memberkit.config import load_settings
from memberkit.services.ledger import points, tiers
from memberkit.services.ledger.members import create_member
from memberkit.services.shopify.push import push
from memberkit.store.database import Database
from memberkit.store.models import Member

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)


def _members(db: Database, shopify: FakeShopify, count: int, *, unknown: int = 0) -> list[str]:
    ids = []
    for n in range(count + unknown):
        shopify_id = shopify.add_customer(f"c{n}@example.com") if n < count else str(880000 + n)
        member = create_member(
            db, actor="cli:jo", email=f"c{n}@example.com", shopify_id=shopify_id, now=NOW
        )
        points.add_points(db, actor="cli:jo", member=member, points=10 + n, zone=ZONE, now=NOW)
        ids.append(shopify_id)
    with db.write() as session:
        session.execute(update(Member).values(codes_available='[{"code": "R-5-A"}]'))
    return ids


def test_a_small_push_uses_metafields_set_and_reports_the_refused_member_only(
    db: Database, shopify: FakeShopify
) -> None:
    ids = _members(db, shopify, 7, unknown=1)
    tiers.add_tier(db, name="Gold", rank=1)
    settings = load_settings(environ={})
    with make_client(shopify) as client:
        report = push(db, settings, client)
    assert report.mode == "metafieldsSet"
    assert (report.members, report.pushed, len(report.failed)) == (8, 7, 1)
    assert report.failed[0].shopify_id == ids[-1]
    assert "Owner does not exist" in report.failed[0].reason
    balance = shopify.metafield(ids[3], "alpkit", "points_balance")
    assert balance is not None and (balance["value"], balance["type"]) == ("13", "number_integer")
    codes = shopify.metafield(ids[3], "alpkit", "discountcodes_2021")
    assert codes is not None and json.loads(codes["value"]) == [{"code": "R-5-A"}]
    # Every call stayed within Shopify's 25 metafields.
    assert all(r.status == 200 for r in shopify.requests_for("metafieldsSet"))


def test_a_large_push_goes_through_one_bulk_mutation(db: Database, shopify: FakeShopify) -> None:
    ids = _members(db, shopify, 30, unknown=2)
    settings = load_settings(environ={"MEMBERKIT_SHOPIFY__BULK_THRESHOLD": "10"})
    with make_client(shopify) as client:
        report = push(db, settings, client, poll_seconds=0.02)
    assert report.mode == "bulk" and len(report.bulk_operations) == 1
    assert (report.pushed, len(report.failed)) == (30, 2)
    assert shopify.metafield(ids[29], "alpkit", "points_balance")["value"] == "39"  # type: ignore[index]
    assert shopify.requests_for("metafieldsSet") == []


def test_changed_since_pushes_only_members_updated_since(
    db: Database, shopify: FakeShopify
) -> None:
    _members(db, shopify, 3)
    settings = load_settings(environ={})
    with make_client(shopify) as client:
        later = push(db, settings, client, changed_since=NOW + dt.timedelta(days=1))
        assert later.members == 0


def test_the_cli_exits_3_and_lists_refused_members_in_a_formula_safe_file(
    database_url: str, db: Database, shopify: FakeShopify, tmp_path: Path
) -> None:
    _members(db, shopify, 2, unknown=1)
    config = tmp_path / "memberkit.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n'
        f'[shopify]\nshop = "{shopify.shop}"\nbase_url = "{shopify.url}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "SHOPIFY_"))}
    result = subprocess.run(
        [sys.executable, "-m", "memberkit", "shopify", "push", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        env={**env, "SHOPIFY_ACCESS_TOKEN": TOKEN},
        check=False,
    )
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert data["pushed"] == 2 and len(data["failed"]) == 1
    with Path(data["failed_file"]).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["member_id", "shopify_id", "reason"] and len(rows) == 2
    missing = subprocess.run(
        [sys.executable, "-m", "memberkit", "shopify", "push", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert missing.returncode == 2 and "SHOPIFY_ACCESS_TOKEN" in missing.stderr
