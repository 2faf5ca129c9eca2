"""Alembic migrations shipped inside the package, run programmatically.

``upgrade(db)`` brings a database to the newest revision; ``memberkit db
upgrade`` calls it. No ``alembic.ini`` is needed at run time: the config is
built here and the open connection is handed to ``env.py``.

To write a new revision during development::

    python -m memberkit.store.migrations revision "what changed"
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

if TYPE_CHECKING:
    from memberkit.store.database import Database


def alembic_config(db: Database | None = None) -> Config:
    """An Alembic config pointing at these migrations (and at ``db``'s engine)."""
    config = Config()
    location = Path(str(resources.files("memberkit.store.migrations")))
    config.set_main_option("script_location", str(location))
    if db is not None:
        config.attributes["engine"] = db.engine
    return config


def head_revision() -> str:
    """The newest revision among the shipped migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate ``db`` to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(db), revision)


def _main(argv: list[str]) -> None:  # pragma: no cover - developer tool
    from memberkit.store.database import open_database

    if len(argv) != 3 or argv[0] != "revision":
        raise SystemExit("usage: python -m memberkit.store.migrations revision URL MESSAGE")
    db = open_database(argv[1], check_schema=False)
    command.revision(alembic_config(db), message=argv[2], autogenerate=True)


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1:])
