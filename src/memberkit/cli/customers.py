"""``memberkit customers import FILE``: upsert members from a customers export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from memberkit.cli.common import ConfigOption, JsonOption, cli_actor, print_json, stderr, stdout
from memberkit.cli.db import open_store
from memberkit.services.ledger.customers_import import import_customers

app = typer.Typer(help="Members from Shopify customer exports.", no_args_is_help=True)

_SHOWN_REJECTS = 20


@app.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(help="A Matrixify or Shopify customers export (CSV).", dir_okay=False)
    ],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update members (profile and reward-code wallet) from a customers export."""
    settings, db = open_store(config)
    result = import_customers(db, path=file, settings=settings, actor=cli_actor())
    if as_json:
        print_json(result.to_json())
    else:
        stdout.print(
            f"{result.rows_read:,} rows read: {result.created:,} members created, "
            f"{result.updated:,} updated, {result.unchanged:,} unchanged, "
            f"{result.skipped_repeated_id:,} repeated-ID rows skipped, "
            f"{len(result.rejected):,} rows rejected.",
            markup=False,
        )
    for row, reason in result.rejected[:_SHOWN_REJECTS]:
        stderr.print(f"Warning: row {row}: {reason}", markup=False)
    if len(result.rejected) > _SHOWN_REJECTS:
        stderr.print(
            f"Warning: {len(result.rejected) - _SHOWN_REJECTS:,} more rows rejected",
            markup=False,
        )
    if result.rejects_file:
        stderr.print(
            f"Warning: rejected rows, as read, with a Failure Reason: {result.rejects_file}",
            markup=False,
        )
