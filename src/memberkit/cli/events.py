"""``memberkit events ...``: the outbox, its delivery to the sinks, dead letters and status."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any

import typer

from memberkit.cli.common import ConfigOption, JsonOption, load, print_json, stderr, stdout
from memberkit.cli.db import open_store
from memberkit.clock import utcnow
from memberkit.config import Settings
from memberkit.errors import NotFoundError, UsageError
from memberkit.events import queue
from memberkit.events.deliver import DeliveryOptions, DeliveryReport, deliver
from memberkit.events.outbox import list_events
from memberkit.events.sinks.factory import make_sinks, sink_labels, sink_types
from memberkit.store.database import open_database

app = typer.Typer(help="Events written with every ledger, tier and profile change.")

EXIT_SOME_DEAD = 3


@app.command("list")
def list_command(
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="How many events, newest first.")
    ] = 50,
    dead: Annotated[
        bool, typer.Option("--dead", help="Only deliveries a sink gave up on, with the error.")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The latest events in the outbox (or the dead deliveries), newest first."""
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    settings, db = open_store(config)
    if dead:
        labels = sink_labels(settings)
        deliveries = queue.dead_deliveries(db, limit=limit)
        if as_json:
            print_json([d.to_json() for d in deliveries])
            return
        if not deliveries:
            stdout.print("no dead events")
            return
        for d in deliveries:
            typer.echo(
                "\t".join(
                    (
                        str(d.event_id),
                        d.created_at.isoformat(timespec="seconds"),
                        d.event_type,
                        str(d.member_id or "-"),
                        labels.get(d.sink, d.sink),
                        f"attempts={d.attempts}",
                        json.dumps(d.last_error or "", ensure_ascii=True),
                    )
                )
            )
        return
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


def run_delivery(settings: Settings, *, once: bool, workers: int) -> DeliveryReport:
    """Deliver to the enabled sinks (the loop stops on SIGTERM or Ctrl-C)."""
    db = open_database(settings.database.url)
    sinks = make_sinks(settings)
    if not sinks:
        raise UsageError(
            "no sink is enabled: nothing to deliver to",
            hint="enable [events.klaviyo], [events.flow] or [events.webhooks] in memberkit.toml",
        )
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if not once and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        return deliver(
            db,
            sinks,
            options=DeliveryOptions.from_settings(settings),
            workers=workers,
            once=once,
            stop=stop,
        )
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for sink in sinks:
            sink.close()
        db.dispose()


@app.command("deliver")
def deliver_command(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due, then stop (for cron).")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            help="Parallel workers (threads; default events.workers, 2; on PostgreSQL "
            "several processes may run too).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send pending events to every enabled sink; without --once, keep going until stopped."""
    if workers is not None and not 1 <= workers <= 32:
        raise UsageError(f"--workers must be 1 to 32, got {workers}")
    settings = load(config)
    report = run_delivery(settings, once=once, workers=workers or settings.events.workers)
    labels = sink_labels(settings)
    if as_json:
        print_json(report.to_json())
    else:
        for name, sink in report.sinks.items():
            line = (
                f"{labels.get(name, name)}: {sink.delivered} delivered, {sink.retried} to retry, "
                f"{sink.dead} dead"
            )
            if sink.profiles_updated or sink.profiles_failed:
                line += f", {sink.profiles_updated} profiles updated"
                if sink.profiles_failed:
                    line += f" ({sink.profiles_failed} failed)"
            stdout.print(line, markup=False, highlight=False)
    for error in report.errors:
        stderr.print(f"Error: {error}", markup=False, highlight=False)
    if report.errors:
        raise typer.Exit(1)
    if any(s.dead for s in report.sinks.values()):
        stderr.print("Hint: memberkit events list --dead shows why; events retry ID requeues")
        raise typer.Exit(EXIT_SOME_DEAD)


@app.command("retry")
def retry_command(
    event_id: Annotated[
        int | None, typer.Argument(metavar="[ID]", help="The event to requeue.", show_default=False)
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Requeue every dead event.")] = False,
    config: ConfigOption = None,
) -> None:
    """Make dead events pending again (their attempts start over)."""
    if (event_id is None) == (not all_dead):
        raise UsageError("give an event ID or --all-dead (one of them)")
    _settings, db = open_store(config)
    if event_id is not None and not queue.event_exists(db, event_id):
        raise NotFoundError(f"there is no event {event_id}", hint="memberkit events list --dead")
    count = queue.requeue(db, event_id=event_id, all_dead=all_dead)
    if event_id is not None and count == 0:
        stdout.print(f"event {event_id} is not dead at any sink: nothing to retry")
        return
    stdout.print(f"{count} deliver{'y' if count == 1 else 'ies'} requeued")


@app.command("status")
def status_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Pending, delivered and dead events per enabled sink, and the oldest pending one's age."""
    settings, db = open_store(config)
    types = sink_types(settings)
    labels = sink_labels(settings)
    now = utcnow()
    states = [s.to_json(now) for s in queue.status(db, types)]
    for state in states:
        state["label"] = labels.get(state["sink"], state["sink"])
    if as_json:
        print_json(states)
        return
    if not states:
        stdout.print("no sink is enabled ([events.klaviyo], [events.flow], [events.webhooks])")
        return
    for state in states:
        age = state["oldest_pending_age_seconds"]
        oldest = "-" if age is None else _age(age)
        stdout.print(
            f"{state['label']}: {state['pending']} pending, {state['delivered']} delivered, "
            f"{state['dead']} dead; oldest pending {oldest}",
            markup=False,
            highlight=False,
        )


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
