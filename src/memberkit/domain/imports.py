"""Bulk import files: the kinds, their columns, and the rules one row must pass.

Pure: headers and cells in, a ``ColumnMap`` and parsed rows (or failure
reasons) out. No files, no database: the service reads the file and knows the
tiers; these functions say what a row means.

Kinds (one per file): ``points-add``, ``points-deduct``, ``points-adjust``,
``points-set``, ``tiers``, ``profiles``. A member is named by ``Email``
(ignoring case) or ``Customer ID`` (the Shopify id, a leading ``'`` ignored);
either column is accepted for every kind. Headers match ignoring case, spaces
and ``_``, with the aliases below. Extra columns are ignored.

Speed matters (a million rows is validated in a few seconds): ``check_row`` is
one function per kind over the plain list of cells, with the column positions
resolved once, and the common case (a clean ASCII email, plain digits) costs a
few string methods.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from memberkit.domain.echo import cut
from memberkit.domain.emails import email_problem

ImportKind = Literal[
    "points-add", "points-deduct", "points-adjust", "points-set", "tiers", "profiles"
]
IMPORT_KINDS: tuple[ImportKind, ...] = (
    "points-add",
    "points-deduct",
    "points-adjust",
    "points-set",
    "tiers",
    "profiles",
)
POINTS_KINDS: frozenset[str] = frozenset(
    ("points-add", "points-deduct", "points-adjust", "points-set")
)
GENDERS: tuple[str, ...] = ("man", "woman", "transgender", "preferNoResponse")
_GENDER_BY_KEY = {g.lower(): g for g in GENDERS}
#: Points in one row: a whole number below 2^31.
MAX_ROW_POINTS = 2**31 - 1
EARLIEST_BIRTHDAY = dt.date(1900, 1, 1)

# The failure reasons the issue words (kept word for word).
INCOMPLETE = "Incomplete entry"
INVALID_EMAIL = "Invalid email format"
DUPLICATE_EMAIL = "Contains multiple rows with the same email address"
DUPLICATE_CUSTOMER_ID = "Contains multiple rows with the same customer id"
INVALID_CUSTOMER_ID = "Invalid customer id (digits only, as Shopify shows it)"
CUSTOMER_NOT_FOUND = "Customer not found"

# Column roles -> the normalised names (and aliases) that fill them.
ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "customeremail", "e-mail"),
    "customer_id": ("customerid", "shopifycustomerid", "shopifyid", "customer"),
    "points": (
        "points",
        "pointstoadd",
        "pointstodeduct",
        "pointstoadjust",
        "pointsbalance",
        "newbalance",
        "balance",
    ),
    "description": ("transactiondescription", "description"),
    "expiry": ("pointsexpirydate", "expirydate", "expiry", "expireson", "expires"),
    "tier": ("tiername", "tier", "viptier"),
    "birthday": ("birthday", "birthdate", "dateofbirth"),
    "gender": ("gender",),
    "public_note": ("publicnote",),
    "internal_note": ("internalnote",),
}
_ROLE_OF = {alias: role for role, names in ALIASES.items() for alias in names}


@dataclass(frozen=True)
class KindSpec:
    """A kind's template columns, the columns it needs and the ones it may take."""

    kind: str
    template: tuple[str, ...]
    required: tuple[str, ...]  # roles besides the member column
    optional: tuple[str, ...]
    example: tuple[str, ...]

    @property
    def points_label(self) -> str:
        """How failure reasons name the points column."""
        return {
            "points-add": "Points to add",
            "points-deduct": "Points to deduct",
        }.get(self.kind, "Points")


_NOTES = ("public_note", "internal_note")
SPECS: dict[str, KindSpec] = {
    "points-add": KindSpec(
        "points-add",
        ("Email", "Points", "Transaction Description"),
        ("points",),
        ("description", *_NOTES),
        ("jo@example.com", "100", "Thank you for being a VIP"),
    ),
    "points-deduct": KindSpec(
        "points-deduct",
        ("Email", "Points", "Transaction Description"),
        ("points",),
        ("description", *_NOTES),
        ("jo@example.com", "50", "Correction after the autumn promotion"),
    ),
    "points-adjust": KindSpec(
        "points-adjust",
        ("Customer ID", "Points", "Points Expiry Date"),
        ("points",),
        ("expiry", "description", *_NOTES),
        ("6601234567890", "-25", ""),
    ),
    "points-set": KindSpec(
        "points-set",
        ("Customer ID", "Points", "Points Expiry Date"),
        ("points",),
        ("expiry", "description", *_NOTES),
        ("6601234567890", "500", "2027-12-31"),
    ),
    "tiers": KindSpec(
        "tiers", ("Customer ID", "Tier Name"), ("tier",), (), ("6601234567890", "Gold")
    ),
    "profiles": KindSpec(
        "profiles",
        ("Customer ID", "Birthday", "Gender"),
        (),
        ("birthday", "gender"),
        ("6601234567890", "1990-05-17", "woman"),
    ),
}


def normalise_column(text: str) -> str:
    """A header as compared: case, spaces, ``_`` and a BOM ignored."""
    return re.sub(r"[\s_\ufeff]+", "", text).lower()


class FileProblem(Exception):
    """A whole-file problem (a required column missing...): one message for people."""


@dataclass(frozen=True)
class ColumnMap:
    """Where each role's column is in the file (None: absent)."""

    kind: str
    email: int | None = None
    customer_id: int | None = None
    points: int | None = None
    description: int | None = None
    expiry: int | None = None
    tier: int | None = None
    birthday: int | None = None
    gender: int | None = None
    public_note: int | None = None
    internal_note: int | None = None

    @property
    def member_column(self) -> int:
        """The column naming the member: Email when present, else Customer ID."""
        column = self.email if self.email is not None else self.customer_id
        assert column is not None
        return column

    @property
    def by_email(self) -> bool:
        """Whether members are matched by email (else by Customer ID)."""
        return self.email is not None


def map_columns(kind: str, header: Sequence[str]) -> ColumnMap:
    """The columns of ``header`` for ``kind``; ``FileProblem`` names what is missing."""
    spec = SPECS[kind]
    found: dict[str, int] = {}
    repeated: list[str] = []
    for index, cell in enumerate(header):
        role = _ROLE_OF.get(normalise_column(cell))
        if role is None:
            continue
        if role in found:
            repeated.append(cell.strip())
            continue
        found[role] = index
    wanted = spec.template
    shown = ", ".join(repr(cut(c.strip())) for c in header[:30]) or "none"
    if "email" not in found and "customer_id" not in found:
        raise FileProblem(
            f"the file has no Email or Customer ID column; columns found: {shown}; "
            f"a {kind} file has the columns {', '.join(wanted)}"
        )
    missing = [r for r in spec.required if r not in found]
    if kind == "profiles" and "birthday" not in found and "gender" not in found:
        missing = ["birthday or gender"]
    if missing:
        guess = _guess_kind(found, kind)
        raise FileProblem(
            f"the file has no {' / '.join(_ROLE_WORDS.get(m, m) for m in missing)} column; "
            f"columns found: {shown}; a {kind} file has the columns {', '.join(wanted)}"
            + (f" (this looks like a {guess} file)" if guess else "")
        )
    if repeated:
        raise FileProblem(
            f"columns given more than once: {', '.join(repr(cut(c)) for c in repeated)}; "
            "keep one of each"
        )
    allowed = {"email", "customer_id", *spec.required, *spec.optional}
    return ColumnMap(kind, **{role: i for role, i in found.items() if role in allowed})


_ROLE_WORDS = {
    "points": "Points",
    "tier": "Tier Name",
    "birthday or gender": "Birthday or Gender",
}


def _guess_kind(found: dict[str, int], wanted: str) -> str | None:
    if "tier" in found:
        return "tiers"
    if "birthday" in found or "gender" in found:
        return "profiles"
    if "points" in found and wanted not in POINTS_KINDS:
        return "points-add"
    return None


# --- parsed rows ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One valid row: the member reference and what to do (``None`` fields: not given)."""

    number: int
    email: str | None
    customer_id: str | None
    points: int | None = None
    description: str | None = None
    expires_on: dt.date | None = None
    tier: str | None = None
    birthday: dt.date | None = None
    gender: str | None = None
    public_note: str | None = None
    internal_note: str | None = None

    @property
    def member_key(self) -> tuple[str, str]:
        """What makes two rows the same member."""
        if self.email is not None:
            return ("email", self.email.lower())
        assert self.customer_id is not None
        return ("customer_id", self.customer_id)


RowCheck = Callable[[int, Sequence[str]], "ImportRow | list[str]"]


def _cell(cells: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _points(text: str) -> int | None:
    """A plain whole number of ASCII digits with an optional leading ``-`` (else None)."""
    digits = text[1:] if text[:1] == "-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 12:
        return None
    value = int(digits)
    return -value if text[:1] == "-" else value


def _date(text: str) -> dt.date | None:
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not text.isascii():
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _customer_id(text: str) -> str | None:
    value = text[1:].strip() if text.startswith("'") else text
    # XLSX readers hand a number cell over as "6601234567890.0" at worst.
    if value.endswith(".0"):
        value = value[:-2]
    if value.isascii() and value.isdigit() and len(value) <= 32:
        return value
    return None


def row_checker(
    columns: ColumnMap,
    *,
    description_max_length: int = 255,
    tiers: Sequence[str] = (),
    today: dt.date | None = None,
) -> RowCheck:
    """The check of one row of ``columns.kind``: an ``ImportRow``, or its failure reasons.

    ``tiers`` are the known tier names (matched ignoring case; the row keeps the
    stored name), ``today`` bounds birthdays (they must be in the past).
    """
    kind = columns.kind
    spec = SPECS[kind]
    member_at = columns.member_column
    by_email = columns.by_email
    points_at = columns.points
    desc_at = columns.description
    expiry_at = columns.expiry
    public_at = columns.public_note
    internal_at = columns.internal_note
    label = spec.points_label
    tier_names = {t.lower(): t for t in tiers}
    day = today or dt.date.today()
    positive_only = kind in ("points-add", "points-deduct")
    if positive_only:
        bad_points = f"{label} must be a positive integer"
    elif kind == "points-adjust":
        bad_points = "Points must be a non-zero whole number (negative deducts)"
    else:
        bad_points = "Points must be a whole number of 0 or more (the new balance)"
    too_large = f"{label} must be at most {MAX_ROW_POINTS:,}"
    too_long = f"Transaction Description is longer than {description_max_length} characters"

    def member(cells: Sequence[str], reasons: list[str]) -> tuple[str | None, str | None]:
        raw = cells[member_at].strip() if member_at < len(cells) else ""
        if not raw:
            reasons.append(INCOMPLETE)
            return None, None
        if by_email:
            if email_problem(raw) is not None:
                reasons.append(INVALID_EMAIL)
                return None, None
            return raw, None
        found = _customer_id(raw)
        if found is None:
            reasons.append(INVALID_CUSTOMER_ID)
        return None, found

    def notes(cells: Sequence[str]) -> tuple[str | None, str | None]:
        public = _cell(cells, public_at) if public_at is not None else ""
        internal = _cell(cells, internal_at) if internal_at is not None else ""
        return public or None, internal or None

    def check_points(number: int, cells: Sequence[str]) -> ImportRow | list[str]:
        reasons: list[str] = []
        email, customer_id = member(cells, reasons)
        raw = cells[points_at].strip() if points_at is not None and points_at < len(cells) else ""
        points: int | None = None
        if not raw:
            if INCOMPLETE not in reasons:
                reasons.append(INCOMPLETE)
        else:
            points = _points(raw)
            if (
                points is None
                or (positive_only and points <= 0)
                or (kind == "points-adjust" and points == 0)
                or (kind == "points-set" and points < 0)
            ):
                reasons.append(bad_points)
                points = None
            elif abs(points) > MAX_ROW_POINTS:
                reasons.append(too_large)
                points = None
        description = _cell(cells, desc_at) if desc_at is not None else ""
        if len(description) > description_max_length:
            reasons.append(too_long)
        expires_on: dt.date | None = None
        if expiry_at is not None:
            text = _cell(cells, expiry_at)
            if text:
                expires_on = _date(text)
                if expires_on is None:
                    reasons.append("Points Expiry Date must be a real date written yyyy-mm-dd")
                elif points is not None and points < 0:
                    reasons.append("Points Expiry Date must be blank when deducting points")
        if reasons:
            return reasons
        public, internal = notes(cells)
        return ImportRow(
            number,
            email,
            customer_id,
            points=points,
            description=description or None,
            expires_on=expires_on,
            public_note=public,
            internal_note=internal,
        )

    def check_tier(number: int, cells: Sequence[str]) -> ImportRow | list[str]:
        reasons: list[str] = []
        email, customer_id = member(cells, reasons)
        raw = _cell(cells, columns.tier)
        tier: str | None = None
        if not raw:
            if INCOMPLETE not in reasons:
                reasons.append(INCOMPLETE)
        else:
            tier = tier_names.get(raw.lower())
            if tier is None:
                known = ", ".join(tiers) if tiers else "none defined"
                reasons.append(f"Unknown tier {cut(raw, 60)!r} (tiers: {known})")
        if reasons:
            return reasons
        return ImportRow(number, email, customer_id, tier=tier)

    def check_profile(number: int, cells: Sequence[str]) -> ImportRow | list[str]:
        reasons: list[str] = []
        email, customer_id = member(cells, reasons)
        birthday_text = _cell(cells, columns.birthday)
        gender_text = _cell(cells, columns.gender)
        birthday: dt.date | None = None
        gender: str | None = None
        if birthday_text:
            birthday = _date(birthday_text)
            if birthday is None:
                reasons.append("Birthday must be a real date written yyyy-mm-dd")
            elif not EARLIEST_BIRTHDAY <= birthday < day:
                reasons.append("Birthday must be in the past and after 1900")
                birthday = None
        if gender_text:
            gender = _GENDER_BY_KEY.get(gender_text.lower())
            if gender is None:
                reasons.append(f"Gender must be one of {', '.join(GENDERS)}")
        if not birthday_text and not gender_text and INCOMPLETE not in reasons:
            reasons.append(INCOMPLETE)
        if reasons:
            return reasons
        return ImportRow(number, email, customer_id, birthday=birthday, gender=gender)

    if kind in POINTS_KINDS:
        return check_points
    if kind == "tiers":
        return check_tier
    return check_profile


def duplicate_reason(columns: ColumnMap) -> str:
    """The reason given to rows naming a member another row names too."""
    return DUPLICATE_EMAIL if columns.by_email else DUPLICATE_CUSTOMER_ID
