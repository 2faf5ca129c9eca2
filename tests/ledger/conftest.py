"""Database fixtures: every test that takes ``db`` runs on SQLite and on PostgreSQL.

PostgreSQL: each test session (each xdist worker) creates its own database,
named ``memberkit_test_<random>``, next to the one ``MEMBERKIT_TEST_DATABASE_URL``
names, migrates it once, empties its tables between tests, and drops it at
the end. Without that variable the PostgreSQL half is skipped with a reason;
with ``CI=true`` a missing or unreachable server fails the run instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tests.conftest import IN_CI, TEST_DATABASE_URL

from memberkit.store.database import Database, create_database_engine, open_database
from memberkit.store.migrations import upgrade
from memberkit.store.models import Base

ZONE = ZoneInfo("Europe/London")

_SKIP_REASON = (
    "PostgreSQL half skipped: set MEMBERKIT_TEST_DATABASE_URL "
    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run it"
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database for this session."""
    if TEST_DATABASE_URL is None:
        if IN_CI:
            pytest.fail("CI=true but MEMBERKIT_TEST_DATABASE_URL is not set")
        pytest.skip(_SKIP_REASON)
    base = make_url(TEST_DATABASE_URL)
    name = f"memberkit_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        message = f"PostgreSQL at {base.render_as_string(hide_password=True)} unreachable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = create_database_engine(url)
    upgrade(Database(engine))
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "memberkit.db"
    # Closing the last connection checkpoints the WAL into the main file.
    open_database(f"sqlite:///{path}").dispose()
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "memberkit.db"
        path.write_bytes(template.read_bytes())
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An open ``Database`` on an empty, migrated schema (both databases)."""
    database = open_database(database_url)
    yield database
    database.dispose()
