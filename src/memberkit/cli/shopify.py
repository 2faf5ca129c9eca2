"""``memberkit shopify push``: members' codes, points and tier written to Shopify customers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from memberkit.cli.common import ConfigOption, JsonOption, load, print_json, stderr, stdout
from memberkit.errors import UsageError
from memberkit.integrations.shopify.client import client_from_settings
from memberkit.runlog import configure_logging
from memberkit.services.shopify.push import PushReport, push, write_failures
from memberkit.store.database import open_database

app = typer.Typer(help="Shopify Admin API: write members' state to their customers.")

EXIT_SOME_FAILED = 3


def parse_moment(value: str | None, *, zone: dt.tzinfo) -> dt.datetime | None:
    """``YYYY-MM-DD`` (midnight in the store's zone) or an ISO date-time (naive: store's zone)."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(), tzinfo=zone)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--changed-since: expected YYYY-MM-DD or an ISO date-time, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def print_push(report: PushReport) -> None:
    how = "bulk mutation" if report.mode == "bulk" else "metafieldsSet calls"
    stdout.print(
        f"Shopify push: {report.pushed:,} of {report.members:,} members written "
        f"({how}: {report.calls}), {len(report.failed):,} failed, {report.seconds:.1f} s.",
        markup=False,
    )


@app.command("push")
def push_command(
    changed_since: Annotated[
        str | None,
        typer.Option(
            "--changed-since",
            metavar="WHEN",
            help="Only members changed since then (YYYY-MM-DD or ISO date-time, store's zone).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write members' code lists, points balance and tier to their Shopify metafields.

    Exit 3 when Shopify refused some members (listed in shopify_push_failed_DATE.csv
    in output.directory).
    """
    settings = load(config)
    configure_logging(settings.log.directory, settings.log.level)
    since = parse_moment(changed_since, zone=settings.processing.zone)
    db = open_database(settings.database.url)
    try:
        with client_from_settings(settings) as client:
            report = push(db, settings, client, changed_since=since)
    finally:
        db.dispose()
    failed_file = None
    if report.failed:
        today = dt.datetime.now(settings.processing.zone).date()
        failed_file = write_failures(report, settings.output.directory, today)
    if as_json:
        data = report.to_json()
        data["failed_file"] = str(failed_file) if failed_file else None
        print_json(data)
    else:
        print_push(report)
        if failed_file:
            stdout.print(f"  {failed_file}  ({len(report.failed):,} failed)", markup=False)
    if report.failed:
        stderr.print("some members were refused by Shopify: see the failed file", markup=False)
        raise typer.Exit(EXIT_SOME_FAILED)
