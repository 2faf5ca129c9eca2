"""``memberkit rewards ...``: the daily rewards update."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from memberkit.cli import klaviyo as klaviyo_cli
from memberkit.cli import redeem as redeem_cli
from memberkit.cli.common import ConfigOption, load, parse_date_option, stderr, stdout
from memberkit.runlog import configure_logging, stderr_is_terminal
from memberkit.services.rewards.run import DailyRunResult, run_daily_update
from memberkit.services.rewards.update import (
    ProgressCallback,
    RewardsUpdateResult,
)

app = typer.Typer(help="The daily member-rewards update.", no_args_is_help=True)


@contextmanager
def progress_bar() -> Iterator[ProgressCallback | None]:
    """A Rich progress bar on a terminal; nothing under cron (stderr is for problems)."""
    if not stderr_is_terminal():
        yield None
        return
    with Progress(
        TextColumn("Customers"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task("customers", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@app.command("update")
def update(
    config: ConfigOption = None,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            metavar="YYYY-MM-DD",
            help="Run as if today were this date (re-runs, tests); it also dates the output files.",
            show_default=False,
        ),
    ] = None,
    all: klaviyo_cli.AllOption = False,
    segment: klaviyo_cli.SegmentOption = False,
    suppressed: klaviyo_cli.SuppressedOption = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Write the files to output/dry-run/ only: archive, copy, upload "
            "and mirror nothing.",
        ),
    ] = False,
    refresh_cache: klaviyo_cli.RefreshOption = False,
) -> None:
    """Move used and expired codes, sort the rest, write the import files, sync Klaviyo.

    With --dry-run the files go to output/dry-run/ only: nothing is archived,
    copied, uploaded or mirrored into the database.

    With klaviyo.enabled the changed profiles are found by comparing against the
    Klaviyo profile index (cached, else fetched); with klaviyo_upload.enabled they
    are uploaded after the files are written. Rejected source rows are warnings
    (exit 0, listed in rejects files); exit 3 when a customer's update could not
    be written or a profile failed to upload (listed in a file).
    """
    mode = klaviyo_cli.fetch_mode_from_flags(all=all, segment=segment, suppressed=suppressed)
    run_date = parse_date_option(today, option="--today")
    settings = load(config)
    configure_logging(settings.log.directory, settings.log.level)
    with progress_bar() as progress, klaviyo_cli.fetch_progress() as on_page:
        done = run_daily_update(
            settings,
            today=run_date,
            mode=mode,
            dry_run=dry_run,
            refresh_cache=refresh_cache,
            progress=progress,
            on_page=on_page,
        )
    print_summary(done.rewards)
    print_klaviyo_summary(done)
    if done.mirrored is not None:
        stdout.print(
            f"Database: {done.mirrored.members_changed:,} changed members mirrored, "
            f"run {done.mirrored.id} recorded.",
            markup=False,
        )
    exit_code = done.exit_code
    if done.mirrored is not None and settings.shopify.push_mode != "file":
        # shopify.push_mode "api"/"both": the changed customers go to Shopify directly too.
        from memberkit.cli.shopify import print_push
        from memberkit.services.shopify.push import push_after_rewards_update, write_failures

        pushed = push_after_rewards_update(settings, run_started_at=done.mirrored.started_at)
        if pushed is not None:
            print_push(pushed)
            if pushed.failed:
                path = write_failures(pushed, settings.output.directory, done.rewards.run_date)
                stdout.print(f"  {path}  ({len(pushed.failed):,} failed)", markup=False)
                exit_code = max(exit_code, 3)
            if settings.shopify.push_mode == "api":
                # The file stays as the record and the fallback (docs/shopify.md).
                stdout.print(
                    "Shopify: pushed through the Admin API; the Matrixify file is a record, "
                    + (
                        "import it (or run `memberkit shopify push`) for the failed members."
                        if pushed.failed
                        else "no need to import it."
                    ),
                    markup=False,
                )
    if done.dry_run:
        stdout.print(
            f"Dry run: outputs written to {done.output_directory} only; "
            "nothing archived, copied, uploaded to Klaviyo or mirrored into the database.",
            markup=False,
        )
    if exit_code:
        raise typer.Exit(exit_code)


def print_klaviyo_summary(synced: DailyRunResult) -> None:
    """The Klaviyo part of the summary: profiles loaded, jobs, uploaded, failed."""
    index, upload = synced.index, synced.upload
    if index is None:
        return
    how = {"cache": "from cache", "fetched": "fetched", "refreshed": "refreshed incrementally"}
    stdout.print(
        f"Klaviyo: {len(index.index.profiles):,} profiles {how[index.origin]} ({index.path}).",
        markup=False,
    )
    if upload is None:
        return
    report = upload.report
    if report.dry_run:
        stdout.print(
            f"Klaviyo upload (dry run): {report.profiles:,} profiles in "
            f"{report.jobs_planned} jobs; nothing sent.",
            markup=False,
        )
    else:
        stdout.print(
            f"Klaviyo upload: {upload.uploaded:,} profiles uploaded in "
            f"{report.jobs_submitted} jobs, {upload.failed:,} failed.",
            markup=False,
        )
    if upload.failed_path is not None:
        stdout.print(f"  {upload.failed_path}  ({upload.failed:,} failed profiles)", markup=False)


def print_summary(result: RewardsUpdateResult) -> None:
    """A short human summary on stdout."""
    c, out = result.counts, result.outputs
    lines = [
        f"Rewards update for {result.run_date.isoformat()}: "
        f"{c.customers_read:,} customer rows read, "
        f"{c.processed:,} processed, {c.skipped_repeated_id:,} repeated-ID rows skipped, "
        f"{c.rejected:,} rejected.",
        f"{c.changed:,} customers changed: {c.codes_moved_to_used:,} codes moved to used, "
        f"{c.codes_moved_to_expired:,} to expired. Usage codes matching no available code: "
        f"{c.unmatched_already_used:,} already used, "
        f"{c.unmatched_not_member_code:,} not member codes.",
        f"  {out.customers_xlsx}  ({c.customers_rows_written:,} rows)",
        f"  {out.max_value_csv}  ({c.max_value_rows_written:,} rows)",
        f"  {out.reviews_csv}  ({c.reviews_rows_written:,} rows)",
    ]
    if out.rejects_csv:
        lines.append(f"  {out.rejects_csv}  ({c.rejected:,} rejected customer rows)")
    if out.usage_rejects_csv:
        lines.append(f"  {out.usage_rejects_csv}  ({c.usage_rejected:,} rejected usage rows)")
    if out.code_reuse_csv:
        lines.append(f"  {out.code_reuse_csv}  ({c.code_reuse:,} member codes used twice)")
    if c.max_value_skipped_unchanged or c.max_value_skipped_not_in_klaviyo:
        lines.append(
            f"Max-value rows skipped: {c.max_value_skipped_unchanged:,} unchanged in Klaviyo, "
            f"{c.max_value_skipped_not_in_klaviyo:,} not in Klaviyo."
        )
    if out.archived:
        lines.append(f"Archived {len(out.archived)} earlier file(s).")
    lines.append(f"Done in {result.timings.get('total', 0.0):.1f}s.")
    for line in lines:
        stdout.print(line, markup=False)


# Redeeming points for a catalogue reward (cli/redeem.py).
app.command("redeem")(redeem_cli.redeem)
