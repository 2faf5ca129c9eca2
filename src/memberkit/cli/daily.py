"""``memberkit daily``: every scheduled job of the day, in order (for cron)."""

from __future__ import annotations

from typing import Annotated

import typer

from memberkit.cli.common import (
    ConfigOption,
    JsonOption,
    load,
    parse_date_option,
    print_json,
    stdout,
)
from memberkit.runlog import configure_logging
from memberkit.services.daily import STEPS, run_daily


def daily(
    config: ConfigOption = None,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            metavar="YYYY-MM-DD",
            help="Run as if today were this date.",
            show_default=False,
        ),
    ] = None,
    skip: Annotated[
        list[str] | None,
        typer.Option(
            "--skip",
            metavar="STEP",
            help=f"Leave out a step (repeatable): {', '.join(STEPS)}.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Rewards update, expiry, birthdays, tiers, expiry reminders, Shopify push, delivery.

    Every step runs and is recorded (memberkit keeps the run as a batch); a
    failed step does not stop the later ones. Exit 3 when any step failed.
    """
    run_date = parse_date_option(today, option="--today")
    settings = load(config)
    configure_logging(settings.log.directory, settings.log.level)
    result = run_daily(settings, today=run_date, skip=skip or ())
    if as_json:
        print_json(result.to_json())
    else:
        stdout.print(
            f"Daily run {result.run_date.isoformat()} (batch {result.batch_id}):", markup=False
        )
        for step in result.steps:
            stdout.print(
                f"  {step.name:<13} {step.status:<8} {step.seconds:6.1f} s  {step.detail}",
                markup=False,
                highlight=False,
            )
    if result.exit_code:
        raise typer.Exit(result.exit_code)
