"""The database fixtures of ``tests/ledger`` (SQLite and PostgreSQL), for the service tests."""

from tests.ledger.conftest import database_url, db, postgres_url, sqlite_template

__all__ = ["database_url", "db", "postgres_url", "sqlite_template"]
