"""``memberkit klaviyo ...``: fetch the profile index, re-upload a max-value CSV."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from memberkit.cli.common import ConfigOption, load, parse_date_option, stderr, stdout
from memberkit.errors import EXIT_PARTIAL, UsageError
from memberkit.runlog import configure_logging, stderr_is_terminal
from memberkit.services.klaviyo.sync import (
    FetchChoice,
    get_profile_index,
    upload_max_value_csv,
)

app = typer.Typer(help="Klaviyo sync: profile index and profile uploads.", no_args_is_help=True)

AllOption = Annotated[
    bool, typer.Option("--all", help="Compare against all Klaviyo profiles (GET /api/profiles).")
]
SegmentOption = Annotated[
    bool, typer.Option("--segment", help="Use the members of klaviyo.segment_id.")
]
SuppressedOption = Annotated[
    bool, typer.Option("--suppressed", help="Use the members of klaviyo.suppressed_segment_id.")
]
RefreshOption = Annotated[
    bool,
    typer.Option("--refresh-cache", help="Delete the cached profile index and fetch it afresh."),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Do everything except the upload; log job and profile counts."),
]
TodayOption = Annotated[
    str | None,
    typer.Option("--today", help="Run date YYYY-MM-DD (dates the failed-profiles file)."),
]


@contextmanager
def fetch_progress() -> Iterator[Callable[[int], None] | None]:
    """A Rich counter of profiles fetched on a terminal; nothing under cron."""
    if not stderr_is_terminal():
        yield None
        return
    with Progress(
        TextColumn("Klaviyo profiles"),
        TextColumn("{task.completed:,.0f}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task("profiles", total=None)
        lock = threading.Lock()

        def advance(count: int) -> None:
            with lock:
                bar.advance(task, count)

        yield advance


def fetch_mode_from_flags(*, all: bool, segment: bool, suppressed: bool) -> FetchChoice | None:
    """The mode chosen by ``--all/--segment/--suppressed``; two of them is a usage error."""
    flags: list[tuple[FetchChoice, bool]] = [
        ("all", all),
        ("segment", segment),
        ("suppressed", suppressed),
    ]
    chosen = [mode for mode, flag in flags if flag]
    if len(chosen) > 1:
        raise UsageError(
            "--all, --segment and --suppressed are mutually exclusive; "
            f"got {' and '.join('--' + m for m in chosen)}",
            hint="pass one of them, or none to use klaviyo.fetch_mode",
        )
    return chosen[0] if chosen else None


@app.command("fetch")
def fetch(
    all: AllOption = False,
    segment: SegmentOption = False,
    suppressed: SuppressedOption = False,
    refresh_cache: RefreshOption = False,
    config: ConfigOption = None,
) -> None:
    """Fetch the Klaviyo profile index into the cache (reused while younger than the TTL)."""
    mode = fetch_mode_from_flags(all=all, segment=segment, suppressed=suppressed)
    settings = load(config)
    configure_logging(settings.log.directory, settings.log.level)
    with fetch_progress() as on_page:
        result = get_profile_index(
            settings, mode=mode, refresh_cache=refresh_cache, on_page=on_page
        )
    how = {"cache": "from cache", "fetched": "fetched", "refreshed": "refreshed incrementally"}
    stdout.print(
        f"{len(result.index.profiles)} Klaviyo profiles {how[result.origin]}: {result.path}"
    )


@app.command("upload")
def upload(
    file: Annotated[
        Path,
        typer.Argument(
            help="A max-value CSV (max_value_YYYY-MM-DD.csv or klaviyo_failed_YYYY-MM-DD.csv).",
            dir_okay=False,
        ),
    ],
    dry_run: DryRunOption = False,
    today: TodayOption = None,
    config: ConfigOption = None,
) -> None:
    """Upload a max-value CSV's profiles to Klaviyo; exit 3 when any profile failed."""
    run_date: dt.date | None = parse_date_option(today, option="--today")
    settings = load(config, klaviyo_upload__dry_run=True if dry_run else None)
    configure_logging(settings.log.directory, settings.log.level)
    result = upload_max_value_csv(
        settings,
        file.absolute(),
        today=run_date or dt.datetime.now(settings.processing.zone).date(),
        dry_run=dry_run or None,
    )
    report = result.report
    if report.dry_run:
        stdout.print(
            f"Dry run: {len(report.uploaded) or report.profiles} profiles in "
            f"{report.jobs_planned} jobs would be uploaded; nothing sent."
        )
    else:
        stdout.print(
            f"Uploaded {result.uploaded} of {result.rows} profiles in "
            f"{report.jobs_submitted} jobs; {result.failed} failed."
        )
    if result.failed_path is not None:
        stdout.print(f"Failed profiles: {result.failed_path}")
    if result.failed:
        raise typer.Exit(EXIT_PARTIAL)
