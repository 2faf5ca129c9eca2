"""``memberkit points ...``: add, deduct, set, reverse, balance, history, expire."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperCommand

from memberkit.cli import earning
from memberkit.cli.common import (
    ConfigOption,
    JsonOption,
    cli_actor,
    parse_date_option,
    print_json,
    stdout,
)
from memberkit.cli.db import open_store
from memberkit.cli.output import print_table, printable
from memberkit.domain.ledger import parse_as_of, parse_points
from memberkit.services.ledger import points as ledger
from memberkit.services.ledger.points import EntryView, PostingResult

app = typer.Typer(help="The points ledger.", no_args_is_help=True)

# "-5", "-1,000", "-٣": a dash then anything but a letter or another dash.
_NEGATIVE_LOOKING = re.compile(r"-[^-A-Za-z]")


class PointsCommand(TyperCommand):
    """A command whose arguments may look negative: ``points set M -5`` is N = -5.

    Click reads any argument starting with ``-`` as an option and fails with
    ``No such option: -5``; here such a value reaches ``parse_points`` (or the
    option it belongs to) as written, so the message is ours.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # A leading space makes Click take the value as positional; removed again below.
        shielded = [f" {arg}" if _NEGATIVE_LOOKING.match(arg) else arg for arg in args]
        marked = {arg for arg, before in zip(shielded, args, strict=True) if arg != before}
        rest = super().parse_args(ctx, shielded)
        for name, value in ctx.params.items():
            if isinstance(value, str) and value in marked:
                ctx.params[name] = value[1:]
        return rest


MemberArg = Annotated[str, typer.Argument(help="Email (any case) or Shopify customer id.")]
PointsArg = Annotated[
    str, typer.Argument(metavar="N", help="Points, a whole number in digits 0-9.")
]
NoteOption = Annotated[
    str | None, typer.Option("--note", help="Customer-facing note.", show_default=False)
]
InternalNoteOption = Annotated[
    str | None,
    typer.Option("--internal-note", help="Note for staff only.", show_default=False),
]
ExpiresOption = Annotated[
    str | None,
    typer.Option(
        "--expires",
        metavar="YYYY-MM-DD",
        help="Last day the points count (they expire at 00:00 after it).",
        show_default=False,
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Idempotency key: repeating the posting returns the first entry.",
        show_default=False,
    ),
]
AllowNegativeOption = Annotated[
    bool,
    typer.Option("--allow-negative", help="Record a shortfall as debt (for migrations)."),
]


def _print_posting(result: PostingResult, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(result.to_json())
        return
    for expiry in result.expired:
        stdout.print(f"expired {-expiry.points} points (entry {expiry.id}, {expiry.source_ref})")
    if result.entry is None:
        stdout.print(f"balance already {result.balance}; nothing posted")
        return
    replay = " (replayed: this key was posted before)" if result.replayed else ""
    stdout.print(
        f"{verb} {abs(result.entry.points)} points: entry {result.entry.id}{replay}; "
        f"balance {result.balance}"
    )


@app.command("add", cls=PointsCommand)
def add(
    member: MemberArg,
    points: PointsArg,
    note: NoteOption = None,
    internal_note: InternalNoteOption = None,
    expires: ExpiresOption = None,
    key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Credit points to a member (a lot, optionally expiring)."""
    amount = parse_points(points)
    expires_on = parse_date_option(expires, option="--expires")
    settings, db = open_store(config)
    result = ledger.add_points(
        db,
        actor=cli_actor(),
        member=member,
        points=amount,
        zone=settings.processing.zone,
        expires_on=expires_on,
        public_note=note,
        internal_note=internal_note,
        key=key,
    )
    _print_posting(result, as_json, "added")


@app.command("deduct", cls=PointsCommand)
def deduct(
    member: MemberArg,
    points: PointsArg,
    note: NoteOption = None,
    internal_note: InternalNoteOption = None,
    key: KeyOption = None,
    allow_negative: AllowNegativeOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Debit points, earliest-expiring first; more than the balance is refused."""
    amount = parse_points(points)
    settings, db = open_store(config)
    result = ledger.deduct_points(
        db,
        actor=cli_actor(),
        member=member,
        points=amount,
        zone=settings.processing.zone,
        allow_negative=allow_negative,
        public_note=note,
        internal_note=internal_note,
        key=key,
    )
    _print_posting(result, as_json, "deducted")


@app.command("set", cls=PointsCommand)
def set_(
    member: MemberArg,
    points: PointsArg,
    note: NoteOption = None,
    internal_note: InternalNoteOption = None,
    expires: ExpiresOption = None,
    key: KeyOption = None,
    allow_negative: AllowNegativeOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring the balance to N by posting the difference as an entry."""
    target = parse_points(points, allow_zero=True, allow_negative=allow_negative)
    expires_on = parse_date_option(expires, option="--expires")
    settings, db = open_store(config)
    result = ledger.set_balance(
        db,
        actor=cli_actor(),
        member=member,
        target=target,
        zone=settings.processing.zone,
        expires_on=expires_on,
        allow_negative=allow_negative,
        public_note=note,
        internal_note=internal_note,
        key=key,
    )
    verb = "added" if result.entry is not None and result.entry.points > 0 else "deducted"
    _print_posting(result, as_json, verb)


@app.command("reverse")
def reverse(
    entry_id: Annotated[int, typer.Argument(help="The entry to reverse (see points history).")],
    note: NoteOption = None,
    internal_note: InternalNoteOption = None,
    key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reverse a credit (while none of it is spent) or a debit (its lots come back)."""
    settings, db = open_store(config)
    result = ledger.reverse_entry(
        db,
        actor=cli_actor(),
        entry_id=entry_id,
        zone=settings.processing.zone,
        public_note=note,
        internal_note=internal_note,
        key=key,
    )
    assert result.entry is not None
    _print_posting(result, as_json, f"reversed entry {entry_id}:")


@app.command("balance")
def balance(
    member: MemberArg,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="T",
            help="A date (end of that day) or date-time (processing.timezone unless it "
            "has an offset). A future time also takes off the points whose expiry falls "
            "due by then.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """A member's balance, now or as of a time."""
    settings, db = open_store(config)
    moment = parse_as_of(as_of, settings.processing.zone) if as_of is not None else None
    member_id, points = ledger.get_balance(db, member=member, as_of=moment)
    if as_json:
        print_json(
            {
                "member_id": member_id,
                "balance": points,
                "as_of": moment.isoformat() if moment else None,
            }
        )
        return
    when = (
        f" as of {moment.astimezone(settings.processing.zone):%Y-%m-%d %H:%M:%S %Z}"
        if moment
        else ""
    )
    stdout.print(f"{points}{when}")


@app.command("history")
def history(member: MemberArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Every entry of a member, with notes, the lots each used, and the running balance."""
    settings, db = open_store(config)
    entries = ledger.history(db, member=member)
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        stdout.print("no entries")
        return
    zone = settings.processing.zone
    table = Table("id", "effective", "kind", "points", "balance", "expires", "source", "notes")
    for entry in entries:
        table.add_row(
            str(entry.id),
            f"{entry.effective_at.astimezone(zone):%Y-%m-%d %H:%M}",
            entry.kind,
            f"{entry.points:+d}",
            str(entry.balance_after),
            str(entry.expires_on or ""),
            printable(_source_text(entry)),
            printable(_notes_text(entry)),
        )
    print_table(table)


def _source_text(entry: EntryView) -> str:
    return f"{entry.source} ({entry.source_ref})" if entry.source_ref else entry.source


def _notes_text(entry: EntryView) -> str:
    parts = []
    if entry.public_note:
        parts.append(entry.public_note)
    if entry.internal_note:
        parts.append(f"[internal] {entry.internal_note}")
    if entry.allocations:
        uses = ", ".join(f"{pts:+d} lot {lot}" for lot, pts in entry.allocations)
        parts.append(f"lots: {uses}")
    return "; ".join(parts)


@app.command("expire")
def expire(
    today: Annotated[
        str | None,
        typer.Option("--today", metavar="YYYY-MM-DD", help="Run as if today were this date."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write expiry entries for lots past their date; running it twice changes nothing."""
    day: dt.date | None = parse_date_option(today, option="--today")
    settings, db = open_store(config)
    result = ledger.expire_points(db, zone=settings.processing.zone, today=day)
    if as_json:
        print_json(result.__dict__)
        return
    stdout.print(
        f"expired {result.points} points in {result.entries} lots of {result.members} members"
    )


# Earning from orders (cli/earning.py).
app.command("earn")(earning.earn)
app.command("release")(earning.release)
app.command("pending")(earning.pending)
app.command("apply-webhooks")(earning.apply_webhooks)
app.command("daily")(earning.daily)
