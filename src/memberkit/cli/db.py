"""``memberkit db ...``: the database schema; and how every command opens the database."""

from __future__ import annotations

from pathlib import Path

import typer

from memberkit.cli.common import ConfigOption, load, stdout
from memberkit.config import Settings
from memberkit.store.database import (
    SCHEMA_REVISION,
    Database,
    current_revision,
    open_database,
)

app = typer.Typer(help="The member database: schema migrations.", no_args_is_help=True)


def open_store(config: Path | None) -> tuple[Settings, Database]:
    """Settings and the database they name (a new SQLite file is created and migrated)."""
    settings = load(config)
    return settings, open_database(settings.database.url)


@app.command("upgrade")
def upgrade_command(config: ConfigOption = None) -> None:
    """Create the tables or migrate them to this version's schema."""
    from memberkit.store.migrations import upgrade

    settings = load(config)
    db = open_database(settings.database.url, check_schema=False)
    try:
        before = current_revision(db.engine)
        if before == SCHEMA_REVISION:
            stdout.print(f"{db.url}: already at schema revision {SCHEMA_REVISION}")
            return
        upgrade(db)
        stdout.print(f"{db.url}: migrated from {before or 'empty'} to {SCHEMA_REVISION}")
    finally:
        db.dispose()
