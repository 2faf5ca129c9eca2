"""The member store: SQLAlchemy models, engine and transactions, migrations."""

from memberkit.store.database import Database, SchemaError, open_database

__all__ = ["Database", "SchemaError", "open_database"]
