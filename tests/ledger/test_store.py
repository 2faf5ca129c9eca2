"""The store: migrations, schema-revision checks, SQLite WAL and BEGIN IMMEDIATE."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from memberkit.services.ledger.members import create_member
from memberkit.store.database import (
    SCHEMA_REVISION,
    Database,
    SchemaError,
    current_revision,
    open_database,
)
from memberkit.store.migrations import head_revision, upgrade
from memberkit.store.models import Base


def test_the_code_expects_the_newest_migration() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_migrations_build_exactly_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_a_fresh_sqlite_file_is_created_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = open_database(f"sqlite:///{path}")
    assert path.exists()
    assert current_revision(db.engine) == SCHEMA_REVISION
    db.dispose()


def test_an_older_schema_is_refused_with_run_db_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    open_database(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000'")
    with pytest.raises(SchemaError, match="revision 0000") as caught:
        open_database(f"sqlite:///{path}")
    assert caught.value.hint is not None and "run memberkit db upgrade" in caught.value.hint


def test_an_empty_existing_database_needs_db_upgrade(database_url: str) -> None:
    db = open_database(database_url)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    with pytest.raises(SchemaError, match="no memberkit tables"):
        open_database(database_url)
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version VALUES (:rev)"), {"rev": SCHEMA_REVISION})
    upgrade(db)  # already at head: nothing to do
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_sqlite_write_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """A second writer waits at BEGIN, instead of failing later with SQLITE_BUSY."""
    path = tmp_path / "lock.db"
    db = open_database(f"sqlite:///{path}")
    create_member(db, actor="test:suite", email="a@example.com")
    order: list[str] = []
    holding = threading.Event()

    def first_writer() -> None:
        with db.write() as session:
            session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE has run: lock held
            holding.set()
            time.sleep(0.5)
            session.execute(text("UPDATE members SET first_name = 'first'"))
            order.append("first committed")

    thread = threading.Thread(target=first_writer)
    thread.start()
    holding.wait(5)
    with db.write() as session:
        # The first statement opens the transaction: BEGIN IMMEDIATE waits here for the
        # lock; a deferred BEGIN would read at once and fail to upgrade its lock later.
        session.execute(text("SELECT 1"))
        order.append("second began")
        session.execute(text("UPDATE members SET last_name = 'second'"))
    thread.join()
    assert order == ["first committed", "second began"]
    db.dispose()


def test_email_key_is_unique_whatever_the_case(db: Database) -> None:
    create_member(db, actor="test:suite", email="Jo@Example.com")
    with pytest.raises(IntegrityError), db.write() as session:
        session.execute(
            text(
                "INSERT INTO members (email, email_key, points_balance, points_debt, "
                "codes_available, codes_used, codes_expired, created_at, updated_at) VALUES "
                "('JO@example.com', 'jo@example.com', 0, 0, '[]', '[]', '[]', "
                "'2027-01-01 00:00:00', '2027-01-01 00:00:00')"
            )
        )
