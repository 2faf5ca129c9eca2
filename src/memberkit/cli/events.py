"""``memberkit events list``: the outbox, newest first."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from memberkit.cli.common import ConfigOption, JsonOption, print_json, stdout
from memberkit.cli.db import open_store
from memberkit.errors import UsageError
from memberkit.events.outbox import list_events

app = typer.Typer(help="Events written with every ledger, tier and profile change.")


@app.command("list")
def list_command(
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="How many events, newest first.")
    ] = 50,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The latest events in the outbox, newest first."""
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    _settings, db = open_store(config)
    events = list_events(db, limit=limit)
    if as_json:
        print_json([event.to_json() for event in events])
        return
    if not events:
        stdout.print("no events yet")
        return
    # One tab-separated line per event, never cut: easy to read, grep and pipe.
    for event in events:
        line = "\t".join(
            (
                str(event.id),
                event.created_at.isoformat(timespec="seconds"),
                event.event_type,
                str(event.member_id or "-"),
                event.actor,
                json.dumps(event.payload, sort_keys=True, ensure_ascii=True),
            )
        )
        typer.echo(line)
