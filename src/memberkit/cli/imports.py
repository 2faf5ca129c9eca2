"""``memberkit import ...``: template, run, apply, resume, undo, list, show.

Exit codes of ``run`` (and ``apply``/``resume``): 0 every row succeeded, 3 some
rows failed (see the results file), 1 the file was invalid or refused
(duplicate, another import in progress), 2 usage errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from memberkit.cli.common import ConfigOption, JsonOption, cli_actor, print_json, stderr, stdout
from memberkit.cli.db import open_store
from memberkit.cli.output import print_table, printable
from memberkit.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL
from memberkit.runlog import stderr_is_terminal
from memberkit.services import imports
from memberkit.services.imports import ImportOptions, ImportRecord
from memberkit.services.imports.templates import check_kind

app = typer.Typer(help="Bulk imports: points, VIP tiers, customer profiles.", no_args_is_help=True)

KindArg = Annotated[
    str,
    typer.Argument(
        metavar="KIND", help=f"One of: {', '.join(imports.IMPORT_KINDS)}.", show_default=False
    ),
]
IdArg = Annotated[int, typer.Argument(metavar="ID", help="The import's id (see import list).")]


@contextmanager
def progress_bar(label: str, *, total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A Rich progress bar on a terminal; nothing under cron or in a pipe."""
    if not stderr_is_terminal():
        yield None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total or None)

        def update(done: int, of: int) -> None:
            bar.update(task, completed=done, total=of or None)

        yield update


def _print_record(record: ImportRecord) -> None:
    stdout.print(
        printable(
            f"import #{record.id} {record.kind} {record.original_name}: {record.status}; "
            f"{record.total_rows} rows, {record.valid_rows} valid, {record.failed_rows} invalid"
        )
    )
    if record.status in ("completed", "reverted") or record.applied_rows:
        stdout.print(
            f"applied {record.applied_rows} rows: {record.succeeded} succeeded, "
            f"{record.failed} failed"
        )
    for line in record.first_failures:
        stdout.print(printable(f"  {line}"))
    if record.failed_rows > len(record.first_failures):
        stdout.print(f"  ... and {record.failed_rows - len(record.first_failures)} more")
    stdout.print(printable(f"original file: {record.original_file}"))
    if record.error_file:
        stdout.print(printable(f"error file: {record.error_file}"))
    if record.results_file:
        stdout.print(printable(f"results file: {record.results_file}"))


def _exit_for(record: ImportRecord) -> int:
    if record.status == "invalid":
        return EXIT_FAILED
    if record.status == "completed" and record.failed:
        return EXIT_PARTIAL
    return EXIT_OK


def _finish(record: ImportRecord, as_json: bool) -> None:
    if as_json:
        print_json(record.to_json())
    else:
        _print_record(record)
    code = _exit_for(record)
    if code:
        raise typer.Exit(code)


@app.command("template")
def template(
    kind: KindArg,
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Where to write it (default: <kind>-template.csv here).", show_default=False
        ),
    ] = None,
    xlsx: Annotated[bool, typer.Option("--xlsx", help="Write an XLSX workbook.")] = False,
) -> None:
    """Write a template file with the kind's columns and one example row."""
    check_kind(kind)
    target = path or Path(f"{kind}-template.{'xlsx' if xlsx else 'csv'}")
    written = imports.write_template(kind, target, xlsx=xlsx)
    stdout.print(printable(f"template written: {written}"))


@app.command("run")
def run(
    kind: KindArg,
    file: Annotated[Path, typer.Argument(help="The CSV or XLSX file.", show_default=False)],
    note: Annotated[
        str | None, typer.Option("--note", help="Public note (shown to the customer).")
    ] = None,
    internal_note: Annotated[
        str | None, typer.Option("--internal-note", help="Note for staff only.")
    ] = None,
    no_events: Annotated[
        bool, typer.Option("--no-events", help="Write no outbox events (a silent migration).")
    ] = False,
    issue_tier_rewards: Annotated[
        bool,
        typer.Option("--issue-tier-rewards", help="tiers: credit each tier's entry reward."),
    ] = False,
    allow_duplicate: Annotated[
        bool, typer.Option("--allow-duplicate", help="Import a file imported before again.")
    ] = False,
    validate_only: Annotated[
        bool, typer.Option("--validate-only", help="Check every row; apply nothing.")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate FILE, then apply it when every row is valid."""
    check_kind(kind)
    settings, db = open_store(config)
    options = ImportOptions(
        note=note,
        internal_note=internal_note,
        emit_events=not no_events,
        issue_tier_rewards=issue_tier_rewards,
        allow_duplicate=allow_duplicate,
    )
    actor = cli_actor()
    record = imports.create_import(
        db,
        settings,
        kind=kind,
        source=file,
        original_name=file.name,
        options=options,
        actor=actor,
    )
    if not as_json:
        _print_validation(record)
    if record.status != "ready" or validate_only:
        if as_json:
            print_json(record.to_json())
        if record.status != "ready":
            raise typer.Exit(EXIT_FAILED)
        return
    with progress_bar("importing", total=record.valid_rows) as advance:
        record = imports.apply_import(db, settings, record.id, actor=actor, progress=advance)
    _finish(record, as_json)


def _print_validation(record: ImportRecord) -> None:
    if record.status == "ready":
        stdout.print(
            printable(f"import #{record.id}: {record.total_rows} rows valid; ready to apply")
        )
        return
    stderr.print(printable(f"import #{record.id}: the file is invalid; nothing was applied"))
    for line in record.first_failures:
        stderr.print(printable(f"  {line}"))
    if record.failed_rows > len(record.first_failures):
        stderr.print(f"  ... and {record.failed_rows - len(record.first_failures)} more rows")
    if record.error_file:
        stderr.print(printable(f"error file: {record.error_file}"))


@app.command("apply")
def apply(import_id: IdArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Apply a validated (ready) import, e.g. one run with --validate-only."""
    settings, db = open_store(config)
    record = imports.get_import(db, import_id)
    with progress_bar("importing", total=record.valid_rows) as advance:
        record = imports.apply_import(db, settings, import_id, actor=cli_actor(), progress=advance)
    _finish(record, as_json)


@app.command("resume")
def resume(import_id: IdArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Finish an interrupted import without applying any row twice."""
    settings, db = open_store(config)
    record = imports.get_import(db, import_id)
    with progress_bar("resuming", total=record.valid_rows) as advance:
        record = imports.resume_import(db, settings, import_id, actor=cli_actor(), progress=advance)
    _finish(record, as_json)


@app.command("undo")
def undo(import_id: IdArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Reverse an import's entries and restore the tiers and profiles it changed."""
    settings, db = open_store(config)
    outcome = imports.undo_import(db, settings, import_id, actor=cli_actor())
    if as_json:
        print_json(outcome.to_json())
        return
    stdout.print(printable(outcome.summary()))
    for line in outcome.left[:50]:
        stdout.print(printable(f"  {line}"))
    if len(outcome.left) > 50:
        stdout.print(f"  ... and {len(outcome.left) - 50} more")


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 50,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The latest imports: id, kind, file, who, status, rows, start and end."""
    _settings, db = open_store(config)
    records = imports.list_imports(db, limit=limit)
    if as_json:
        print_json([r.to_json() for r in records])
        return
    table = Table(
        "id", "kind", "file", "who", "status", "rows", "ok", "failed", "started", "finished"
    )
    for r in records:
        table.add_row(
            str(r.id),
            r.kind,
            printable(r.original_name),
            printable(r.actor),
            r.status,
            str(r.total_rows),
            str(r.succeeded),
            str(r.failed or r.failed_rows),
            f"{r.started_at:%Y-%m-%d %H:%M}" if r.started_at else "",
            f"{r.finished_at:%Y-%m-%d %H:%M}" if r.finished_at else "",
        )
    print_table(table)


@app.command("show")
def show(import_id: IdArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """One import: options, status, counts, times and where its files are."""
    _settings, db = open_store(config)
    record = imports.get_import(db, import_id)
    if as_json:
        print_json(record.to_json())
        return
    _print_record(record)
    stdout.print(printable(f"who: {record.actor}"))
    stdout.print(printable(f"options: {record.options.to_json()}"))
    if record.started_at:
        stdout.print(f"started: {record.started_at:%Y-%m-%d %H:%M:%S} UTC")
    if record.finished_at:
        stdout.print(f"finished: {record.finished_at:%Y-%m-%d %H:%M:%S} UTC")
    if record.undo_summary:
        stdout.print(printable(f"undone: {record.undo_summary}"))
