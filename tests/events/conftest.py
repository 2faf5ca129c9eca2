"""The ledger's database fixtures (both databases) for the outbox tests."""

from tests.ledger.conftest import database_url, db, postgres_url, sqlite_template

__all__ = ["database_url", "db", "postgres_url", "sqlite_template"]
