"""Redeeming a catalogue reward from the member page and through the API, against the local Shopify.

One code in Shopify, one deduction, the code in the member's available codes;
the same key (a double submit, a retried API call) never makes a second code;
viewers cannot redeem; CSRF is checked like every other form.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.earning.test_redeem_cli import CATALOGUE
from tests.integrations.shopify.conftest import shopify as shopify
from tests.integrations.shopify.helpers import SHOP, TOKEN
from tests.ledger.conftest import ZONE
from tests.servers.shopify_server import FakeShopify
from tests.web.conftest import csrf_of, login

from memberkit.config import Settings, load_settings
from memberkit.services import users
from memberkit.services.ledger import points
from memberkit.services.ledger.members import create_member, show_member
from memberkit.store.database import open_database
from memberkit.web.app import create_app


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
    path = tmp_path / "memberkit.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        f'[shopify]\nshop = "{SHOP}"\nbase_url = "{shopify.url}"\n' + CATALOGUE,
        encoding="utf-8",
    )
    return load_settings(path, environ={})


@pytest.fixture
def member_id(settings: Settings, shopify: FakeShopify) -> int:
    db = open_database(settings.database.url)
    customer = shopify.add_customer("ann@example.com")
    member = create_member(db, actor="test:suite", email="ann@example.com", shopify_id=customer)
    points.add_points(db, actor="test:suite", member=member, points=800, zone=ZONE)
    db.dispose()
    return member


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, start_worker=False), follow_redirects=False) as c:
        yield c


def wallet(settings: Settings, member_id: int) -> tuple[int, list[str]]:
    db = open_database(settings.database.url)
    try:
        shown = show_member(db, member=member_id)
        return shown.points_balance, [c["code"] for c in shown.wallet["available"]]
    finally:
        db.dispose()


def test_an_operator_redeems_once_from_the_member_page(
    client: TestClient,
    people: dict[str, str],
    member_id: int,
    settings: Settings,
    shopify: FakeShopify,
) -> None:
    login(client, people["operator"])
    page = client.get(f"/members/{member_id}")
    assert "Redeem a reward" in page.text and "5 off (500 points)" in page.text
    form = {"reward": "5 off", "key": "double-submit", "csrf_token": csrf_of(page.text)}
    assert (
        client.post(
            f"/members/{member_id}/redemptions", data={**form, "csrf_token": ""}
        ).status_code
        == 403
    )
    first = client.post(f"/members/{member_id}/redemptions", data=form)
    assert first.status_code == 303
    code = first.headers["location"].split("redeemed=")[1]
    assert code.startswith("PTS5")
    again = client.post(f"/members/{member_id}/redemptions", data=form)
    assert again.headers["location"] == first.headers["location"]
    assert list(shopify.discounts) == [code.lower()]
    assert wallet(settings, member_id) == (300, [code])
    shown = client.get(first.headers["location"]).text
    assert f"code {code} is in the member" in shown
    # Not enough points left for a second one: said on the page, nothing created.
    refused = client.post(f"/members/{member_id}/redemptions", data={**form, "key": "second"})
    assert refused.status_code == 409 and "balance" in refused.text
    assert len(shopify.discounts) == 1
    unknown = client.post(f"/members/{member_id}/redemptions", data={**form, "reward": "tent"})
    assert unknown.status_code == 422 and "choose a reward" in unknown.text


def test_viewers_cannot_redeem(
    client: TestClient, people: dict[str, str], member_id: int, shopify: FakeShopify
) -> None:
    login(client, people["viewer"])
    page = client.get(f"/members/{member_id}")
    assert "Redeem a reward" not in page.text
    form = {"reward": "5 off", "key": "k", "csrf_token": csrf_of(page.text)}
    assert client.post(f"/members/{member_id}/redemptions", data=form).status_code == 403
    assert shopify.discounts == {}


def test_the_api_redeems_once_per_key_with_a_personal_token(
    client: TestClient,
    people: dict[str, str],
    member_id: int,
    settings: Settings,
    shopify: FakeShopify,
) -> None:
    db = open_database(settings.database.url)
    token, _ = users.issue_token(db, email=people["operator"], name="script", actor="cli:test")
    db.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/members/{member_id}/redemptions"
    first = client.post(url, json={"reward": "5 OFF", "key": "order-42"}, headers=headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["points_cost"] == 500 and body["balance"] == 300 and body["value"] == "5.00"
    again = client.post(url, json={"reward": "5 off", "key": "order-42"}, headers=headers)
    assert again.json()["code"] == body["code"] and again.json()["replayed"] is True
    assert len(shopify.discounts) == 1
    missing = client.post(url, json={"reward": "nope", "key": "k2"}, headers=headers)
    assert missing.status_code == 404
    assert "no reward 'nope'" in missing.json()["error"]["message"]
