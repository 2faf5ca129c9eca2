"""Earning rules and the rewards catalogue edited in the web admin: stored, and then they win.

The config file gives every setting; what an admin saves on the settings page is
kept in the database and wins over the file for those keys (for the CLI too)
until it is reset. Invalid values are refused with the key named, and nothing
is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.earning.conftest import order_rows, write_orders
from tests.web.conftest import csrf_of, login

from memberkit.config import Settings, load_settings
from memberkit.errors import ConfigError
from memberkit.services import program_settings
from memberkit.services.ledger.members import create_member
from memberkit.store.database import Database, open_database
from memberkit.store.models import ProgramSetting
from memberkit.web.app import create_app

CONFIG_FILE_RULES = """
[earning]
points_per_unit = "1"
pending_days = 0

[[rewards.catalogue]]
name = "5 off"
points_cost = 500
value_type = "fixed_amount"
value = "5.00"
"""


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    path = tmp_path / "memberkit.toml"
    path.write_text(f'[database]\nurl = "{database_url}"\n' + CONFIG_FILE_RULES, "utf-8")
    return load_settings(path, environ={})


@pytest.fixture
def store(settings: Settings) -> Iterator[Database]:
    db = open_database(settings.database.url)
    yield db
    db.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, start_worker=False), follow_redirects=False) as c:
        yield c


def test_saved_rules_win_over_the_config_file_until_reset(
    settings: Settings, store: Database
) -> None:
    assert program_settings.effective_settings(store, settings) == settings
    program_settings.save(
        store,
        settings,
        {"earning.points_per_unit": "2.5", "earning.excluded_tags": ["wholesale"]},
        actor="web:admin@example.com",
    )
    effective = program_settings.effective_settings(store, settings)
    assert effective.earning.points_per_unit == Decimal("2.5")
    assert effective.earning.excluded_tags == ("wholesale",)
    assert effective.earning.pending_days == 0  # not saved: still the file's
    saved = {s.key: s for s in program_settings.stored(store)}
    assert saved["earning.points_per_unit"].value == "2.5"
    assert saved["earning.points_per_unit"].updated_by == "web:admin@example.com"
    assert program_settings.reset(store, actor="web:admin@example.com") == 2
    assert program_settings.effective_settings(store, settings) == settings


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"earning.pending_days": -1}, "earning.pending_days"),
        ({"earning.points_per_unit": "lots"}, "earning.points_per_unit"),
        (
            {
                "rewards.catalogue": [
                    {"name": "x", "points_cost": 0, "value_type": "fixed_amount", "value": "1"}
                ]
            },
            "points_cost",
        ),
        ({"database.url": "sqlite:///elsewhere.db"}, "database.url"),
    ],
)
def test_an_invalid_value_is_refused_naming_the_key_and_nothing_is_stored(
    settings: Settings, store: Database, values: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        program_settings.save(store, settings, values, actor="web:admin@example.com")
    assert program_settings.stored(store) == []


def test_an_admin_edits_the_rules_and_the_catalogue_in_the_browser_form(
    client: TestClient, people: dict[str, str], store: Database, settings: Settings
) -> None:
    token = login(client, people["admin"])
    page = client.get("/settings")
    assert "From the config file" in page.text
    saved = client.post(
        "/settings/earning",
        data={
            "csrf_token": token,
            "points_per_unit": "2",
            "min_subtotal": "10.00",
            "tier_multipliers": "Gold=1.5, Silver=1.2",
            "first_order_bonus": "25",
            "excluded_tags": "wholesale, staff",
            "excluded_codes": "",
            "pending_days": "7",
        },
    )
    assert saved.status_code == 303
    effective = program_settings.effective_settings(store, settings).earning
    assert effective.tier_multipliers == {"Gold": Decimal("1.5"), "Silver": Decimal("1.2")}
    assert (effective.pending_days, effective.excluded_tags) == (7, ("wholesale", "staff"))
    shown = client.get("/settings").text
    assert "Saved in the web admin" in shown and "earning.points_per_unit" in shown

    bad = client.post("/settings/earning", data={"csrf_token": token, "pending_days": "soon"})
    assert bad.status_code == 422
    assert "earning.pending_days must be a whole number" in bad.text
    huge = client.post("/settings/earning", data={"csrf_token": token, "pending_days": "9" * 5000})
    assert huge.status_code == 422 and "at most 12 digits" in huge.text

    catalogue = client.post(
        "/settings/catalogue",
        data={
            "csrf_token": token,
            **{"name_0": "5 off", "points_cost_0": "400", "value_type_0": "fixed_amount"},
            **{"value_0": "5.00", "min_spend_0": "", "validity_days_0": "30"},
            **{"code_prefix_0": "PTS5", "name_1": "10% off", "points_cost_1": "900"},
            **{"value_type_1": "percentage", "value_1": "10", "min_spend_1": "50"},
            **{"validity_days_1": "", "code_prefix_1": "", "name_2": "", "points_cost_2": ""},
            **{"value_type_2": "fixed_amount", "value_2": ""},
        },
    )
    assert catalogue.status_code == 303
    rewards = program_settings.effective_settings(store, settings).rewards
    assert [(r.name, r.points_cost) for r in rewards.catalogue] == [
        ("5 off", 400),
        ("10% off", 900),
    ]
    assert (
        rewards.catalogue[1].min_spend == Decimal("50") and rewards.catalogue[1].validity_days == 90
    )

    member = create_member(store, actor="test:suite", email="ann@example.com", shopify_id="7001")
    assert "10% off (900 points)" in client.get(f"/members/{member}").text

    reset = client.post("/settings/program/reset", data={"csrf_token": token})
    assert reset.status_code == 303
    assert program_settings.effective_settings(store, settings) == settings


def test_only_admins_save_settings(
    client: TestClient, people: dict[str, str], store: Database
) -> None:
    login(client, people["operator"])
    page = client.get("/settings")
    assert page.status_code == 200 and "Save earning rules" not in page.text
    token = csrf_of(page.text)
    for path in ("/settings/earning", "/settings/catalogue", "/settings/program/reset"):
        assert client.post(path, data={"csrf_token": token, "pending_days": "1"}).status_code == 403
    assert program_settings.stored(store) == []


def test_the_cli_earns_with_the_rules_saved_in_the_web_admin(
    settings: Settings, store: Database, tmp_path: Path
) -> None:
    create_member(store, actor="test:suite", email="ann@example.com", shopify_id="7001")
    program_settings.save(
        store, settings, {"earning.points_per_unit": "3"}, actor="web:admin@example.com"
    )
    orders = write_orders(
        tmp_path / "orders.csv", [order_rows("#1001", "ann@example.com", "10.00")]
    )
    assert settings.config_path is not None
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "memberkit",
            "points",
            "earn",
            str(orders),
            "--json",
            "--config",
            str(settings.config_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["points_earned"] == 30


def test_a_saved_value_the_config_no_longer_accepts_leaves_the_page_usable_to_reset(
    client: TestClient, people: dict[str, str], store: Database, settings: Settings
) -> None:
    # Written by an older memberkit, or by hand: -1 is out of range for pending_days.
    with store.write() as session:
        session.add(
            ProgramSetting(
                key="earning.pending_days",
                value="-1",
                updated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                updated_by="web:old@example.com",
            )
        )
    token = login(client, people["admin"])
    page = client.get("/settings")
    assert page.status_code == 200
    assert "earning.pending_days" in page.text and "use the config file again" in page.text
    assert client.post("/settings/program/reset", data={"csrf_token": token}).status_code == 303
    assert program_settings.effective_settings(store, settings) == settings
