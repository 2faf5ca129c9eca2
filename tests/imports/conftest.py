"""Fixtures of the import tests: a store (settings + database, both databases) with members."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.ledger.conftest import database_url, db, postgres_url, sqlite_template

from memberkit.config import Settings, load_settings
from memberkit.domain.members import MemberRecord
from memberkit.services.ledger.members import upsert_members_from_export
from memberkit.store.database import Database

__all__ = ["database_url", "db", "postgres_url", "sqlite_template"]

ACTOR = "cli:tester"


def store_settings(root: Path, url: str, extra: str = "") -> Settings:
    """Settings of a store in ``root`` on the database ``url``."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "memberkit.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n\n[processing]\ntimezone = "Europe/London"\n{extra}',
        encoding="utf-8",
    )
    return load_settings(config)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return store_settings(tmp_path / "store", database_url)


def add_members(db: Database, count: int, *, start: int = 1) -> None:
    """Members m<i>@example.com with Shopify ids 66000000<i>."""
    records = [
        MemberRecord(shopify_id=f"{6600000000 + i}", email=f"m{i}@example.com")
        for i in range(start, start + count)
    ]
    upsert_members_from_export(db, actor="system:test", records=records)


@pytest.fixture
def members(db: Database) -> Iterator[Database]:
    add_members(db, 20)
    yield db


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path
