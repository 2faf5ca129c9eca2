"""The database: SQLAlchemy models, repositories, migrations."""
