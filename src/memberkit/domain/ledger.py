"""Points-ledger rules as plain functions: allocation, debt, expiry, as-of times, idempotency.

Nothing here touches a database or a file; ``memberkit.store`` and
``memberkit.services.ledger.points`` apply these rules inside a transaction.

The model, in brief:

* A **credit** is a *lot* of points with an optional expiry date. Arriving
  points first pay off outstanding *debt* (shortfalls of earlier debits posted
  with ``allow_negative``), oldest debt first; what is left stays in the lot.
* A **debit** consumes lots earliest expiry first, lots without expiry last,
  oldest lot first among equals. Each use of a lot is an *allocation*, so
  every point can be traced from its grant to its spend or expiry.
* A lot **expires** at 00:00 after its expiry date in ``processing.timezone``.
* The **balance** is the sum of remaining lots minus outstanding debt, which is
  also the sum of every entry's signed points.

Points are whole numbers (``int``), never floats.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from memberkit.errors import InvalidValueError, MemberkitError, UsageError

EntryKind = Literal["credit", "debit", "expiry", "reversal"]
ENTRY_KINDS: tuple[EntryKind, ...] = ("credit", "debit", "expiry", "reversal")

Source = Literal[
    "import",
    "api",
    "manual",
    "tier_reward",
    "birthday",
    "expiry",
    "reversal",
    "order",
    "redemption",
    "point_import",
]
SOURCES: tuple[Source, ...] = (
    "import",
    "api",
    "manual",
    "tier_reward",
    "birthday",
    "expiry",
    "reversal",
    # Points earned from orders (and taken back on refunds), and spent on rewards.
    "order",
    "redemption",
    # Entries of a bulk import file (``memberkit import run``, issue 10).
    "point_import",
)

UTC = dt.UTC

# The documented range of points: one posting moves at most POINTS_LIMIT points,
# and no balance or debt may pass POINTS_LIMIT either way. Far inside 64 bits
# (BIGINT), so a sum of any two stays representable and the database never sees
# an out-of-range value; checked by the rules before anything is written.
POINTS_LIMIT = 1_000_000_000_000


class LedgerError(MemberkitError):
    """A posting the ledger refuses; nothing was written."""

    code = "ledger_refused"


class InsufficientPointsError(LedgerError):
    """A debit larger than the balance, without ``allow_negative``."""

    code = "insufficient_points"

    def __init__(self, *, balance: int, requested: int, member: str | None = None) -> None:
        who = f" for {member}" if member else ""
        super().__init__(
            f"insufficient points{who}: balance {balance}, requested {requested}",
            hint="deduct at most the balance, or allow a negative balance "
            "to record the shortfall as debt",
        )
        self.balance = balance
        self.requested = requested


class IdempotencyConflictError(LedgerError):
    """An idempotency key was already used for a posting with different content."""

    code = "idempotency_conflict"

    def __init__(self, key: str, *, existing_entry_id: int, differences: Sequence[str]) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used by entry {existing_entry_id} "
            f"with different content ({', '.join(differences)})",
            hint="use a new key for a new posting, or repeat the original one exactly",
        )
        self.key = key
        self.existing_entry_id = existing_entry_id
        self.differences = tuple(differences)


class ReversalError(LedgerError):
    """An entry that cannot be reversed (spent credit, already reversed, an expiry...)."""

    code = "reversal_refused"


# --- points and times -------------------------------------------------------------------


def parse_points(text: str, *, allow_zero: bool = False, allow_negative: bool = False) -> int:
    """A whole number of points from user input; an ``InvalidValueError`` says what was wrong.

    Only plain ASCII digits are points, with a leading ``-`` where a negative
    value is allowed: ``1,000``, ``1_000``, ``+5``, Arabic-Indic or full-width
    digits are refused rather than guessed at (``int()`` would take most of
    them). Values past ``POINTS_LIMIT`` are refused before they become ints, so
    a 5,000-digit argument never reaches Python's digit limit.
    """
    raw = text.strip()
    negative = raw.startswith("-")
    digits = raw[1:] if negative else raw
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidValueError(
            f"points must be a whole number written with the digits 0-9, got {_cut(text)!r}",
            hint="write digits only, without a sign, spaces or separators, e.g. 1000",
        )
    if negative and not allow_negative:
        raise InvalidValueError(f"points must not be negative, got {_cut(text)!r}")
    if len(digits.lstrip("0")) > len(str(POINTS_LIMIT)) or int(digits) > POINTS_LIMIT:
        raise InvalidValueError(
            f"points value is too large: {_cut(text)!r}; at most {POINTS_LIMIT:,} "
            "points move in one posting"
        )
    value = -int(digits) if negative else int(digits)
    if value == 0 and not allow_zero:
        raise InvalidValueError(f"points must be more than 0, got {_cut(text)!r}")
    return value


def _cut(text: str, limit: int = 80) -> str:
    """``text`` shortened to about ``limit`` characters, so an echoed value stays readable."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_utc(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """An aware UTC datetime; a naive one is read as wall-clock time in ``zone``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def expiry_instant(expires_on: dt.date, zone: ZoneInfo) -> dt.datetime:
    """When a lot expiring on ``expires_on`` stops counting: 00:00 the next day in ``zone``."""
    next_day = expires_on + dt.timedelta(days=1)
    return dt.datetime.combine(next_day, dt.time(0), tzinfo=zone).astimezone(UTC)


def is_expired(expires_on: dt.date | None, *, at: dt.datetime, zone: ZoneInfo) -> bool:
    """True when a lot with this expiry date no longer counts at instant ``at``."""
    return expires_on is not None and at >= expiry_instant(expires_on, zone)


def end_of_day(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The last representable instant (to the microsecond) of ``day`` in ``zone``, in UTC."""
    return expiry_instant(day, zone) - dt.timedelta(microseconds=1)


def parse_as_of(text: str, zone: ZoneInfo) -> dt.datetime:
    """The instant an ``--as-of`` value means, in UTC.

    * a bare date ``2026-03-01`` means the end of that day in ``zone``;
    * a date and time without offset ``2026-03-01T14:30`` is wall-clock time in ``zone``;
    * a date and time with an offset or ``Z`` is that exact instant.
    """
    raw = text.strip()
    if len(raw) == 10:
        try:
            return end_of_day(dt.date.fromisoformat(raw), zone)
        except ValueError:
            pass
    try:
        moment = dt.datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        raise UsageError(
            f"--as-of: expected a date (2026-03-01) or a date and time "
            f"(2026-03-01T14:30, optionally with +01:00), got {text!r}"
        ) from None
    return to_utc(moment, zone)


# --- allocation -------------------------------------------------------------------------


@dataclass(frozen=True)
class LotState:
    """A credit's points still unspent: ``lot_id`` is the credit entry's id."""

    lot_id: int
    remaining: int
    expires_on: dt.date | None


@dataclass(frozen=True)
class DebtState:
    """A debit's shortfall not yet paid off: ``debit_id`` is the debit entry's id."""

    debit_id: int
    unpaid: int


@dataclass(frozen=True)
class Allocation:
    """``points`` taken from lot ``lot_id`` (negative: given back by a reversal)."""

    lot_id: int
    points: int


@dataclass(frozen=True)
class DebitPlan:
    """How a debit is covered: allocations from lots, and the shortfall recorded as debt."""

    allocations: tuple[Allocation, ...]
    shortfall: int


@dataclass(frozen=True)
class DebtPayment:
    """``points`` of lot ``lot_id`` paying the debt left by debit ``debit_id``."""

    lot_id: int
    debit_id: int
    points: int


def allocation_order(lots: Iterable[LotState]) -> list[LotState]:
    """Lots in the order a debit consumes them: earliest expiry first, no expiry last."""
    return sorted(
        lots,
        key=lambda lot: (lot.expires_on is None, lot.expires_on or dt.date.max, lot.lot_id),
    )


def balance_of(lots: Iterable[LotState], debts: Iterable[DebtState]) -> int:
    """Remaining points in all lots minus outstanding debt."""
    return sum(lot.remaining for lot in lots) - sum(debt.unpaid for debt in debts)


def plan_debit(
    lots: Iterable[LotState],
    points: int,
    *,
    debts: Iterable[DebtState] = (),
    allow_negative: bool = False,
    member: str | None = None,
) -> DebitPlan:
    """Cover a debit of ``points`` from ``lots``; raise ``InsufficientPointsError`` if short.

    With ``allow_negative`` the part the lots cannot cover is the shortfall (a debt).
    """
    if points <= 0:
        raise ValueError(f"a debit takes a positive number of points, got {points}")
    ordered = [lot for lot in allocation_order(lots) if lot.remaining > 0]
    debt_list = list(debts)
    available = sum(lot.remaining for lot in ordered)
    if available < points and not allow_negative:
        raise InsufficientPointsError(
            balance=balance_of(ordered, debt_list), requested=points, member=member
        )
    allocations: list[Allocation] = []
    needed = points
    for lot in ordered:
        if needed == 0:
            break
        take = min(lot.remaining, needed)
        allocations.append(Allocation(lot.lot_id, take))
        needed -= take
    return DebitPlan(tuple(allocations), shortfall=needed)


def plan_settlement(lots: Iterable[LotState], debts: Iterable[DebtState]) -> list[DebtPayment]:
    """Pay outstanding debts (oldest first) from lots (in allocation order).

    Called whenever points arrive (a credit, or lots restored by a reversal)
    while the member owes points, so that debt is always paid before anything
    else: a member never has both unspent lots and unpaid debt.
    """
    payments: list[DebtPayment] = []
    lot_left = {lot.lot_id: lot.remaining for lot in lots}
    ordered = [lot for lot in allocation_order(lots) if lot.remaining > 0]
    for debt in sorted(debts, key=lambda d: d.debit_id):
        owed = debt.unpaid
        for lot in ordered:
            if owed == 0:
                break
            pay = min(lot_left[lot.lot_id], owed)
            if pay > 0:
                payments.append(DebtPayment(lot.lot_id, debt.debit_id, pay))
                lot_left[lot.lot_id] -= pay
                owed -= pay
    return payments


def set_balance_difference(current: int, target: int) -> int:
    """The signed points a "set balance" posts: positive is a credit, negative a debit.

    Zero posts nothing, unless the set carries an idempotency key: then a
    zero-point entry keeps the key (see ``records_unchanged_set``).
    """
    return target - current


def records_unchanged_set(key: str | None) -> bool:
    """Whether a set that finds the balance at its target still writes an entry.

    A keyed request applies at most once, whatever it found: without a stored
    entry holding its key, replaying "set to 12" after later postings would
    post the difference again. So a keyed set always leaves a (zero-point)
    entry; an unkeyed one that changes nothing writes nothing.
    """
    return key is not None


# --- the points range -------------------------------------------------------------------


def _points_text(value: int) -> str:
    # A huge number is described, not printed (and never through int -> str limits).
    text = (
        f"{abs(value):,}" if abs(value) < 10**30 else f"a {abs(value).bit_length()}-bit number of"
    )
    return f"{'-' if value < 0 else ''}{text}"


def check_posting_amount(points: int, *, member: str | None = None) -> None:
    """Refuse a posting of more than ``POINTS_LIMIT`` points (either way)."""
    if abs(points) > POINTS_LIMIT:
        who = f" for {member}" if member else ""
        raise LedgerError(
            f"value is too large: a posting{who} of {_points_text(points)} points; "
            f"one posting moves at most {POINTS_LIMIT:,} points",
            hint="split it into smaller postings, or check the amount",
        )


def check_resulting_balance(balance: int, *, member: str | None = None) -> None:
    """Refuse a balance above ``POINTS_LIMIT`` or a debt beyond it."""
    if abs(balance) > POINTS_LIMIT:
        who = f" of {member}" if member else ""
        what = "balance" if balance > 0 else "debt"
        raise LedgerError(
            f"value is too large: the {what}{who} would be {_points_text(abs(balance))} points; "
            f"a {what} is at most {POINTS_LIMIT:,} points",
            hint="check the amount; nothing was written",
        )


# --- expiry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimedLot:
    """An open lot with the instant it expires (None: never)."""

    lot_id: int
    remaining: int
    expires_at: dt.datetime | None


def due_for_expiry(lots: Iterable[TimedLot], *, at: dt.datetime) -> list[TimedLot]:
    """Lots with points left whose expiry instant is at or before ``at``, in expiry order."""
    due = [
        lot
        for lot in lots
        if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= at
    ]
    return sorted(due, key=lambda lot: (lot.expires_at or at, lot.lot_id))


def expiry_key(lot_id: int) -> str:
    """The idempotency key of a lot's expiry entry: a lot expires once."""
    return f"expiry:lot:{lot_id}"


def lot_has_expired(
    expires_at: dt.datetime | None, *, at: dt.datetime, expiry_written: bool
) -> bool:
    """True when a lot no longer takes points back: its expiry instant has passed at ``at``,
    or its expiry entry is already written (an expiry run dated after ``at``).

    A lot expires once: points a reversal would give back to a lot that has
    expired stay expired, so its expiry key is never needed twice.
    """
    return expiry_written or (expires_at is not None and expires_at <= at)


def expiry_note(points: int, expires_on: dt.date | None) -> str:
    """The public note of an expiry entry."""
    return f"{points} points expired (expiry date {expires_on})"


# --- reversals --------------------------------------------------------------------------


def check_reversible(
    entry_id: int, kind: str, *, reversed_by: int | None, points: int | None = None
) -> None:
    """Only credits and debits that moved points are reversed, and each at most once."""
    if kind not in ("credit", "debit"):
        raise ReversalError(
            f"entry {entry_id} is a {kind} and cannot be reversed",
            hint="only credits and debits can be reversed",
        )
    if points == 0:
        raise ReversalError(
            f"entry {entry_id} moved no points (a set to the balance it already had); "
            "there is nothing to reverse"
        )
    if reversed_by is not None:
        raise ReversalError(f"entry {entry_id} was already reversed by entry {reversed_by}")


def check_credit_reversal(
    entry_id: int, *, points: int, remaining: int, expired: bool, expires_on: dt.date | None
) -> None:
    """A credit is reversed whole, while none of its lot is spent or expired."""
    if remaining == points:
        return
    if expired:
        raise ReversalError(
            f"cannot reverse entry {entry_id}: its points expired after {expires_on}",
            hint="expired points stay expired; credit new points instead",
        )
    raise ReversalError(
        f"cannot reverse entry {entry_id}: {points - remaining} of its {points} points "
        "are already spent",
        hint="reverse the debits that used them first, or deduct the rest instead",
    )


@dataclass(frozen=True)
class DebitReversalPlan:
    """What reversing a debit gives back: points per lot, debt cancelled, points kept."""

    restore: dict[int, int]
    cancelled_debt: int
    kept_expired: int

    @property
    def points(self) -> int:
        """The reversal entry's (positive) points."""
        return sum(self.restore.values()) + self.cancelled_debt


def plan_debit_reversal(
    allocations: Iterable[tuple[int, int]], *, expired_lots: set[int], unpaid_debt: int
) -> DebitReversalPlan:
    """Give back what each lot lent the debit, except lots that have expired since.

    The debit's unpaid debt (its shortfall not yet paid) is cancelled.
    """
    per_lot: dict[int, int] = {}
    for lot_id, points in allocations:
        per_lot[lot_id] = per_lot.get(lot_id, 0) + points
    restore = {
        lot_id: points
        for lot_id, points in per_lot.items()
        if points > 0 and lot_id not in expired_lots
    }
    kept = sum(per_lot.values()) - sum(restore.values())
    return DebitReversalPlan(restore, unpaid_debt, kept)


def reversal_content(member_id: int, entry_id: int) -> EntryContent:
    """What a reversal's idempotency key stands for: reversing this entry of this member.

    The points are not part of it: they follow from the entry reversed.
    """
    return EntryContent(member_id, "reversal", None, None, "reversal", f"entry {entry_id}")


# --- idempotency ------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryContent:
    """What an idempotency key stands for: a replay must match all of it.

    ``kind`` is ``"set"`` for a set-balance request, whose content is its target
    (``set_to``) rather than the difference it happened to post.
    """

    member_id: int
    kind: str
    points: int | None
    expires_on: dt.date | None
    source: str
    source_ref: str | None
    set_to: int | None = None


def content_differences(existing: EntryContent, requested: EntryContent) -> list[str]:
    """Field-by-field differences, worded for an error message; empty means a true replay."""
    out = []
    for name in ("member_id", "kind", "points", "expires_on", "source", "source_ref", "set_to"):
        old, new = getattr(existing, name), getattr(requested, name)
        if old != new:
            out.append(f"{name} {_shown(old)} then {_shown(new)}")
    return out


def check_replay(key: str, existing: EntryContent, existing_id: int, wanted: EntryContent) -> None:
    """Raise ``IdempotencyConflictError`` unless ``wanted`` repeats ``existing`` exactly."""
    differences = content_differences(existing, wanted)
    if differences:
        raise IdempotencyConflictError(key, existing_entry_id=existing_id, differences=differences)


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)


def check_source(source: str) -> Source:
    """``source`` if it is one of ``SOURCES``; otherwise an ``InvalidValueError`` listing them."""
    for known in SOURCES:
        if source == known:
            return known
    raise InvalidValueError(f"unknown entry source {source!r}; use one of {', '.join(SOURCES)}")
