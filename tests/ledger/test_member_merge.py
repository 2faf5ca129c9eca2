"""The member upsert's merge rule: an export older than a code move never undoes it (8.1)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from memberkit.config import load_settings
from memberkit.domain.members import MemberRecord, Wallet, merge_wallet
from memberkit.services.ledger.customers_import import import_customers
from memberkit.services.ledger.members import show_member, upsert_members_from_export
from memberkit.services.rewards.mirror import run_rewards_update_with_mirror
from memberkit.store.database import Database

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = dt.datetime(2027, 3, 1, 6, 0, tzinfo=dt.UTC)


def codes(*names: str) -> str:
    return "[" + ",".join(f'{{"code":"{n}","value":"5.00"}}' for n in names) + "]"


def names(wallet_list: list[dict[str, object]]) -> list[object]:
    return [item["code"] for item in wallet_list]


def test_a_code_used_in_the_store_stays_used_when_an_older_export_lists_it_available() -> None:
    stored = Wallet(available=codes(), used=codes("OLD1", "BOB1"), expired="[]")
    merged = merge_wallet(stored, available=codes("BOB1"), used=codes("OLD1"), expired="[]")
    assert merged == Wallet(available=codes(), used=codes("OLD1", "BOB1"), expired="[]")


def test_a_code_expired_in_the_store_never_comes_back_whatever_its_case() -> None:
    stored = Wallet(available=codes("KEEP"), used="[]", expired=codes("EVE0"))
    merged = merge_wallet(stored, available=codes("eve0 ", "KEEP", "NEW1"), used=None, expired=None)
    assert merged == Wallet(available=codes("KEEP", "NEW1"), used="[]", expired=codes("EVE0"))


def test_newly_used_codes_from_the_export_join_the_stored_ones_in_order() -> None:
    stored = Wallet(available=codes("A", "B"), used=codes("OLD"), expired="[]")
    merged = merge_wallet(stored, available=codes("B"), used=codes("A", "OLD"), expired=None)
    assert merged == Wallet(available=codes("B"), used=codes("OLD", "A"), expired="[]")


def test_an_export_without_code_columns_keeps_the_wallet() -> None:
    stored = Wallet(available=codes("A"), used=codes("B"), expired=codes("C"))
    assert merge_wallet(stored, available=None, used=None, expired=None) == stored


def test_upsert_applies_the_merge_rule(db: Database) -> None:
    after_update = MemberRecord(
        shopify_id="1",
        email="bob@example.com",
        codes_available=codes(),
        codes_used=codes("OLD1", "BOB1"),
        codes_expired="[]",
    )
    older_export = MemberRecord(
        shopify_id="1",
        email="bob@example.com",
        first_name="Bob",
        codes_available=codes("BOB1"),
        codes_used=codes("OLD1"),
        codes_expired="[]",
    )
    upsert_members_from_export(db, actor="test:suite", records=[after_update], now=NOW)
    upsert_members_from_export(db, actor="test:suite", records=[older_export], now=NOW)
    bob = show_member(db, member="bob@example.com")
    assert bob.first_name == "Bob"  # profile fields follow the export
    assert names(bob.wallet["available"]) == []
    assert names(bob.wallet["used"]) == ["OLD1", "BOB1"]


def test_rewards_update_then_the_same_mornings_export_keeps_used_and_expired_codes(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    shutil.copytree(EXAMPLES / "input", tmp_path / "input")
    config = tmp_path / "memberkit.toml"
    config.write_text(
        (EXAMPLES / "memberkit.toml").read_text(encoding="utf-8")
        + f'\n[database]\nurl = "{database_url}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    run_rewards_update_with_mirror(settings, today=dt.date(2026, 12, 1))
    before = {
        email: show_member(db, member=email).wallet
        for email in ("bob.smith@example.com", "6601000000005")
    }
    assert "DIV-BOB1-0001" in names(before["bob.smith@example.com"]["used"])
    assert "DIV-EVE0-0001" in names(before["6601000000005"]["expired"])
    import_customers(
        db,
        path=tmp_path / "input" / "customers_export.csv",
        settings=settings,
        actor="test:suite",
    )
    for email, wallet in before.items():
        after = show_member(db, member=email).wallet
        assert names(after["used"]) == names(wallet["used"])
        assert names(after["expired"]) == names(wallet["expired"])
        assert names(after["available"]) == names(wallet["available"])
    bob = show_member(db, member="bob.smith@example.com").wallet
    assert "DIV-BOB1-0001" not in names(bob["available"])
    eve = show_member(db, member="6601000000005").wallet
    assert "DIV-EVE0-0001" not in names(eve["available"])
