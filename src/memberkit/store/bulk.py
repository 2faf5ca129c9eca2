"""Bulk writes at driver speed: ``COPY`` on PostgreSQL, ``executemany`` on SQLite.

The ORM and even Core ``executemany`` spend most of their time per row in
Python; for a million ledger rows that is the difference between minutes and
seconds. These helpers take rows as dicts keyed by column name, apply each
column type's bind processing once per value (so ``UTCDateTime`` and dates are
stored exactly as SQLAlchemy would store them), and hand the tuples to the driver
inside the session's current transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

# Parameters per IN (...) list: well below SQLite's 32766 and PostgreSQL's 65535.
_CHUNK = 5000


def chunked(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _processors(
    table: Table, columns: Sequence[str], session: Session
) -> list[Callable[[Any], Any] | None]:
    dialect = session.get_bind().dialect
    return [_memoised(table.c[name].type.bind_processor(dialect)) for name in columns]


def _memoised(process: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """Cache a bind processor per value: bulk rows repeat the same times and dates."""
    if process is None:
        return None
    cache: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            result = cache[value] = process(value)
            return result

    return cached


def _tuples(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    processors: Sequence[Callable[[Any], Any] | None],
) -> list[tuple[Any, ...]]:
    pairs = list(zip(columns, processors, strict=True))
    if all(proc is None for _, proc in pairs):
        return [tuple(row[name] for name in columns) for row in rows]
    return [
        tuple(
            (proc(row[name]) if proc is not None and row[name] is not None else row[name])
            for name, proc in pairs
        )
        for row in rows
    ]


def among(column: Any, values: Sequence[Any], *, postgresql: bool) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, a single parameter.

    Thousands of separate parameters make PostgreSQL drivers slow to build the query.
    """
    if postgresql:
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


@contextmanager
def _driver_errors(session: Session, statement: str) -> Iterator[None]:
    """Re-raise the driver's integrity errors as SQLAlchemy's, as the ORM would."""
    dbapi = session.get_bind().dialect.loaded_dbapi
    try:
        yield
    except dbapi.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from exc


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the current transaction.

    A unique or foreign-key violation raises ``sqlalchemy.exc.IntegrityError``.
    """
    if not rows:
        return
    with _driver_errors(session, f"INSERT INTO {table.name}"):
        _insert_rows(session, table, rows)


def _insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    columns = list(rows[0])
    data = _tuples(rows, columns, _processors(table, columns, session))
    connection = session.connection()
    raw = connection.connection.driver_connection
    assert raw is not None
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    cursor = raw.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", data)  # noqa: S608
    finally:
        cursor.close()


def update_rows(session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Update ``table`` from ``rows`` (dicts of ``key`` plus the columns to set).

    PostgreSQL: one ``UPDATE ... FROM unnest(arrays)``.
    SQLite: one driver ``executemany`` of ``UPDATE ... WHERE key = ?``.
    """
    if not rows:
        return
    columns = list(rows[0])
    values = [c for c in columns if c != key]
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        ordered = [*values, key]
        data = _tuples(rows, ordered, _processors(table, ordered, session))
        raw_sqlite = connection.connection.driver_connection
        assert raw_sqlite is not None
        sets = ", ".join(f"{c} = ?" for c in values)
        cursor = raw_sqlite.cursor()
        try:
            cursor.executemany(f"UPDATE {table.name} SET {sets} WHERE {key} = ?", data)  # noqa: S608
        finally:
            cursor.close()
        return
    # PostgreSQL: one statement joining the table to the new values passed as
    # arrays. unnest() makes the planner expect few rows, so it walks the
    # primary key instead of scanning the whole table once per batch.
    data = _tuples(rows, columns, _processors(table, columns, session))
    arrays = [list(column) for column in zip(*data, strict=True)]
    types = [table.c[c].type.compile(dialect=connection.dialect) for c in columns]
    unnest = ", ".join(f"%s::{sql_type}[]" for sql_type in types)
    sets = ", ".join(f"{c} = v.{c}" for c in values)
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table.name} AS t SET {sets} "  # noqa: S608
            f"FROM unnest({unnest}) AS v({', '.join(columns)}) WHERE t.{key} = v.{key}",
            arrays,
        )
