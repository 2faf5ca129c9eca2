"""``memberkit points earn FILE`` and ``points release``, ``points pending``: earning from orders.

Registered in the ``points`` group by ``cli.points`` (one line each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from memberkit.cli.common import ConfigOption, JsonOption, cli_actor, print_json, stderr, stdout
from memberkit.cli.db import open_store
from memberkit.config import Settings
from memberkit.domain.ledger import parse_as_of
from memberkit.errors import EXIT_PARTIAL
from memberkit.services.earning.balance import earning_balance
from memberkit.services.earning.export import ExportEarningResult, earn_from_export
from memberkit.services.earning.release import release_due
from memberkit.services.program_settings import effective_settings

_SHOWN_REJECTS = 10


def store_currency(settings: Settings) -> str:
    """The store's currency (``shopify.currency``): orders in others earn nothing."""
    return settings.shopify.currency


def earn(
    file: Annotated[
        Path, typer.Argument(help="Shopify's orders export (CSV, Orders > Export).", dir_okay=False)
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be earned; write nothing.")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Earn points from an orders export; each order earns once (re-running adds nothing)."""
    settings, db = open_store(config)
    result = earn_from_export(
        db,
        path=file,
        earning=effective_settings(db, settings).earning,
        currency=store_currency(settings),
        zone=settings.processing.zone,
        actor=cli_actor(),
        output_dir=settings.output.directory,
        encoding=settings.input.encoding,
        dry_run=dry_run,
    )
    if as_json:
        print_json(result.to_json())
    else:
        stdout.print(_summary_line(result), markup=False)
    for row, reason in result.rejects[:_SHOWN_REJECTS]:
        stderr.print(f"Warning: row {row}: {reason}", markup=False)
    if len(result.rejects) > _SHOWN_REJECTS:
        stderr.print(
            f"Warning: {len(result.rejects) - _SHOWN_REJECTS:,} more orders rejected", markup=False
        )
    if result.rejects_file:
        stderr.print(
            f"Warning: rejected orders, as read, with a Failure Reason: {result.rejects_file}",
            markup=False,
        )
    if result.rejects:
        raise typer.Exit(EXIT_PARTIAL)


def _summary_line(result: ExportEarningResult) -> str:
    s = result.summary
    skipped = sum(s.skipped.values())
    why = ", ".join(f"{reason} {count:,}" for reason, count in sorted(s.skipped.items()))
    prefix = "dry run, nothing written: " if result.dry_run else ""
    released = (
        f"; released {result.points_released_before:,} pending points of "
        f"{result.released_before:,} earlier orders first"
        if result.released_before
        else ""
    )
    return (
        f"{prefix}{s.orders:,} orders ({result.rows:,} rows): {s.earned:,} earned "
        f"({s.points_earned:,} points, {s.points_released:,} of them available now), "
        f"{s.already_earned:,} already earned, {skipped:,} skipped"
        f"{f' ({why})' if why else ''}, {s.reversed:,} reversed "
        f"({s.points_taken:,} points taken back), {s.rejected:,} rejected{released}."
    )


def release(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Make pending points available whose pending period has ended (the daily schedule does)."""
    settings, db = open_store(config)
    result = release_due(db, actor=cli_actor(), zone=settings.processing.zone)
    if as_json:
        print_json(result.__dict__)
        return
    stdout.print(f"released {result.points:,} points of {result.orders:,} orders")


def pending(
    member: Annotated[str, typer.Argument(help="Email (any case) or Shopify customer id.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="T",
            help="A date (end of that day) or date-time (processing.timezone unless it "
            "has an offset).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """A member's points available to spend and pending (earned, not yet released)."""
    settings, db = open_store(config)
    moment = parse_as_of(as_of, settings.processing.zone) if as_of is not None else None
    member_id, balance = earning_balance(db, member=member, as_of=moment)
    if as_json:
        print_json(
            {
                "member_id": member_id,
                "available": balance.available,
                "pending": balance.pending,
                "as_of": moment.isoformat() if moment else None,
            }
        )
        return
    stdout.print(f"available {balance.available:,}, pending {balance.pending:,}")


def apply_webhooks(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Apply queued Shopify order webhooks (orders/paid, refunds/create, orders/cancelled)."""
    from memberkit.services.earning.webhooks import apply_queued

    settings, db = open_store(config)
    result = apply_queued(
        db,
        earning=effective_settings(db, settings).earning,
        currency=store_currency(settings),
        zone=settings.processing.zone,
        actor=cli_actor(),
    )
    if as_json:
        print_json(result.to_json())
        return
    s = result.summary
    stdout.print(
        f"applied {result.applied:,} webhooks ({result.waiting:,} refunds wait for their "
        f"order): {s.earned:,} orders earned {s.points_earned:,} points, {s.reversed:,} "
        f"reversed ({s.points_taken:,} points taken back), {s.rejected:,} rejected",
        markup=False,
    )


def daily(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The earning part of the daily schedule: release, webhooks, redemptions, tiers."""
    from memberkit.integrations.shopify import TOKEN_VARIABLE
    from memberkit.services.earning.daily import run_earning_daily
    from memberkit.services.redemption_client import creator_for, shopify_client

    settings, db = open_store(config)
    if settings.shopify.shop and settings.secret(TOKEN_VARIABLE) is not None:
        with shopify_client(settings) as client:
            result = run_earning_daily(db, settings, create_discount=creator_for(client))
    else:
        result = run_earning_daily(db, settings)
    if as_json:
        print_json(result.to_json())
        return
    resumed = (
        f"{result.redemptions.issued} pending redemptions issued, "
        f"{result.redemptions.refused} given back"
        if result.redemptions
        else "pending redemptions not checked (no shopify.shop or access token)"
    )
    stdout.print(
        f"released {result.released.points:,} points of {result.released.orders:,} orders; "
        f"applied {result.webhooks.applied:,} webhooks; {resumed}; tiers: "
        f"{result.tiers.upgraded} up, {result.tiers.downgraded} down",
        markup=False,
    )
