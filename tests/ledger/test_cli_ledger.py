"""``memberkit points|tiers|members|db`` end to end, as a subprocess: exit codes and --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from memberkit.services.ledger.members import create_member
from memberkit.store.database import open_database


def memberkit(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memberkit", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "memberkit.toml"
    path.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    db = open_database(database_url)
    create_member(db, actor="test:suite", email="Ann@Example.com", shopify_id="7001")
    db.dispose()
    return path


def test_points_commands_end_to_end(config: Path) -> None:
    added = json_of(
        memberkit(config, "points", "add", "ANN@example.com", "100", "--note", "hi", "--json")
    )
    assert added["balance"] == 100 and added["entry"]["public_note"] == "hi"
    keyed = ["points", "add", "7001", "50", "--expires", "2099-12-31", "--key", "k1", "--json"]
    first = json_of(memberkit(config, *keyed))
    again = json_of(memberkit(config, *keyed))
    assert again["replayed"] and again["entry"]["id"] == first["entry"]["id"]
    deducted = json_of(memberkit(config, "points", "deduct", "7001", "120", "--json"))
    assert deducted["balance"] == 30
    # Earliest expiry first: the 2099 lot before the lot without expiry.
    lots = {a["lot"]: a["points"] for a in deducted["entry"]["allocations"]}
    assert lots == {first["entry"]["id"]: 50, added["entry"]["id"]: 70}
    assert json_of(memberkit(config, "points", "set", "7001", "10", "--json"))["balance"] == 10
    reversed_ = json_of(
        memberkit(config, "points", "reverse", str(deducted["entry"]["id"]), "--json")
    )
    assert reversed_["balance"] == 130
    balance = json_of(memberkit(config, "points", "balance", "ann@example.com", "--json"))
    assert balance["balance"] == 130
    history = json_of(memberkit(config, "points", "history", "7001", "--json"))
    assert [e["kind"] for e in history] == ["credit", "credit", "debit", "debit", "reversal"]
    assert history[-1]["balance_after"] == 130
    past = json_of(
        memberkit(config, "points", "balance", "7001", "--as-of", "2020-01-01", "--json")
    )
    assert past["balance"] == 0
    expired = json_of(memberkit(config, "points", "expire", "--today", "2100-01-01", "--json"))
    assert expired == {"entries": 1, "points": 50, "members": 1}
    text = memberkit(config, "points", "history", "7001")
    assert text.returncode == 0 and "expiry" in text.stdout


def test_user_mistakes_are_one_line_with_the_right_exit_code(config: Path) -> None:
    cases = [
        (("points", "add", "ann@example.com", "12.5"), 2, "whole number"),
        (("points", "add", "nobody@example.com", "5"), 1, "no member with email"),
        (("points", "add", "not-a-member", "5"), 2, "email address or a Shopify"),
        (("points", "deduct", "7001", "200"), 1, "insufficient points for Ann@Example.com"),
        (("points", "add", "7001", "5", "--expires", "31/12/2027"), 2, "YYYY-MM-DD"),
        (("points", "balance", "7001", "--as-of", "soon"), 2, "--as-of"),
        (("points", "reverse", "999"), 1, "no ledger entry 999"),
        (("members", "set-tier", "7001", "Platinum"), 1, "no tier named 'Platinum'"),
    ]
    for args, code, message in cases:
        result = memberkit(config, *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_key_conflict_names_the_key(config: Path) -> None:
    assert memberkit(config, "points", "add", "7001", "5", "--key", "once").returncode == 0
    result = memberkit(config, "points", "add", "7001", "6", "--key", "once")
    assert result.returncode == 1
    assert "idempotency key 'once'" in result.stderr and "points 5 then 6" in result.stderr


def test_tiers_and_members(config: Path) -> None:
    silver = json_of(memberkit(config, "tiers", "add", "Silver", "--threshold", "500", "--json"))
    gold = json_of(
        memberkit(
            config, "tiers", "add", "Gold", "--threshold", "1000", "--reward-points", "50", "--json"
        )
    )
    assert (silver["rank"], gold["rank"]) == (1, 2)
    assert memberkit(config, "tiers", "rename", "gold", "Gold Plus").returncode == 0
    moved = json_of(
        memberkit(config, "members", "set-tier", "ann@example.com", "gold plus", "--json")
    )
    assert moved["to_tier"] == "Gold Plus" and moved["reward_entry_id"] is not None
    shown = json_of(memberkit(config, "members", "show", "7001", "--json"))
    assert shown["tier"] == "Gold Plus" and shown["points_balance"] == 50
    assert shown["tier_history"][0]["to_tier"] == "Gold Plus"
    assert shown["wallet"] == {"available": [], "used": [], "expired": []}
    listed = json_of(memberkit(config, "tiers", "list", "--json"))
    assert [(t["name"], t["members"]) for t in listed] == [("Silver", 0), ("Gold Plus", 1)]
    duplicate = memberkit(config, "tiers", "add", "silver")
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr


def test_db_upgrade_and_first_use_of_a_new_sqlite_file(tmp_path: Path) -> None:
    config = tmp_path / "memberkit.toml"
    config.write_text('[database]\nurl = "sqlite:///data/members.db"\n', encoding="utf-8")
    (tmp_path / "data").mkdir()
    listed = memberkit(config, "tiers", "list", "--json")
    assert json_of(listed) == []
    assert (tmp_path / "data" / "members.db").exists()
    upgraded = memberkit(config, "db", "upgrade")
    assert upgraded.returncode == 0 and "already at schema revision" in upgraded.stdout


def test_members_show_prints_the_wallet_codes(database_url: str, config: Path) -> None:
    from memberkit.domain.members import MemberRecord
    from memberkit.services.ledger.members import upsert_members_from_export

    db = open_database(database_url)
    upsert_members_from_export(
        db,
        actor="test:suite",
        records=[
            MemberRecord(
                shopify_id="7001",
                email="Ann@Example.com",
                first_name="Ann",
                codes_available='[{"code": "WELCOME-5", "value": "5.00"}]',
            )
        ],
    )
    db.dispose()
    shown = memberkit(config, "members", "show", "ann@example.com")
    assert shown.returncode == 0, shown.stderr
    assert "Ann <Ann@Example.com>" in shown.stdout and "WELCOME-5" in shown.stdout
