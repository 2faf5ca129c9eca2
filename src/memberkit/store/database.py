"""Opening the database: engines, transactions, and the schema-revision check.

``open_database(url)`` returns a ``Database``; ``db.write()`` and ``db.read()``
are context managers yielding a ``Session`` inside one transaction (commit on
success, rollback on error).

SQLite: WAL journal, foreign keys on, a busy timeout, and every write
transaction opened with ``BEGIN IMMEDIATE``. A deferred transaction that reads
and then writes fails with SQLITE_BUSY at once when another writer got in
between, whatever the busy timeout; taking the write lock up front makes
writers queue on the timeout instead. Read transactions use plain ``BEGIN``.

PostgreSQL: the services lock the member row (``SELECT ... FOR UPDATE``) before
changing its points, so concurrent postings to one member queue up.

A SQLite file that does not exist yet is created and migrated by whichever
command opens it first. Any other database whose schema is not at this
version's revision is refused with "run memberkit db upgrade".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from memberkit.errors import ConfigError, MemberkitError

# The Alembic revision this code expects; tests check it is the migrations' head.
SCHEMA_REVISION = "0007"


_SQLITE_BUSY_TIMEOUT_MS = 30_000


class SchemaError(MemberkitError):
    """The database is missing its tables or is at another schema revision."""

    code = "schema_outdated"


class Database:
    """An engine plus transaction helpers for one database URL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.is_postgresql = engine.dialect.name == "postgresql"
        self._write_sessions = sessionmaker(engine, expire_on_commit=False)
        read_engine = (
            engine.execution_options(sqlite_begin="DEFERRED") if self.is_sqlite else engine
        )
        self._read_sessions = sessionmaker(read_engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The URL with any password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
        with self._write_sessions() as session, session.begin():
            yield session

    def write_session(self) -> Session:
        """A new write session whose transactions are ``BEGIN IMMEDIATE`` on SQLite.

        For callers that commit several times in one session (the unit of work);
        the caller closes it.
        """
        return self._write_sessions()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction; rolled back at the end (loaded objects stay readable)."""
        with self._read_sessions() as session:
            yield session

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def _install_sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        """WAL, foreign keys, busy timeout; BEGIN is left to ``on_begin``."""
        # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        """``BEGIN IMMEDIATE`` unless the engine asked for ``DEFERRED`` (reads)."""
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_database_engine(url: str) -> Engine:
    """An engine for ``url`` with memberkit's SQLite settings applied."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(
            f"database.url is not a database URL: {url!r}",
            hint="use sqlite:///memberkit.db or postgresql+psycopg://user@host/dbname",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000})
        _install_sqlite_events(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise ConfigError(
        f"database.url: unsupported database {parsed.get_backend_name()!r}",
        hint="use sqlite:///... or postgresql+psycopg://...",
    )


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision stamped in the database; None when there is none."""
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def open_database(url: str, *, check_schema: bool = True) -> Database:
    """Open the database at ``url``; create and migrate a new SQLite file.

    With ``check_schema`` an existing database must be at ``SCHEMA_REVISION``,
    otherwise ``SchemaError`` says to run ``memberkit db upgrade``.
    """
    path = _sqlite_path(url)
    fresh = path is not None and (not path.exists() or path.stat().st_size == 0)
    if fresh and path is not None and not path.parent.is_dir():
        raise ConfigError(
            f"database.url points into a folder that does not exist: {path.parent}",
            hint="create the folder or change database.url",
        )
    engine = create_database_engine(url)
    db = Database(engine)
    if fresh:
        from memberkit.store.migrations import upgrade

        upgrade(db)
    elif check_schema:
        check_schema_revision(db)
    return db


def check_schema_revision(db: Database) -> None:
    """Raise ``SchemaError`` unless the schema is at ``SCHEMA_REVISION``."""
    try:
        revision = current_revision(db.engine)
    except OperationalError as exc:
        raise MemberkitError(
            f"cannot open the database {db.url}: {exc.orig}",
            hint="check database.url and that the database server is running",
        ) from None
    if revision == SCHEMA_REVISION:
        return
    if revision is None:
        raise SchemaError(
            f"the database {db.url} has no memberkit tables",
            hint="run memberkit db upgrade",
        )
    raise SchemaError(
        f"the database {db.url} is at schema revision {revision}, "
        f"this memberkit needs {SCHEMA_REVISION}",
        hint="run memberkit db upgrade (back up the database first)",
    )
