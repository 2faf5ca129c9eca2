"""The nine "max value" profile properties sent to Klaviyo, their types, and how they compare.

One row per member with an email: the member's best available reward code and a
summary of their wallet. Which of the nine fields are sent, and under which
Klaviyo property names, is the store's choice (a ``PropertyMap``, from the
``[klaviyo_properties]`` settings); the defaults are the seed store's names
(``has_dividends`` ... ``MBR_date_created``), which reproduce today's files.
The same typed values are written to the max-value CSV, compared against the
Klaviyo profile index, and uploaded as profile properties, so all three agree
on what "changed" means.

Comparison is typed per property: booleans, integers, money as ``Decimal`` (so
``"10.00"``, ``10`` and ``10.0`` are equal), and exact strings; ``"true"`` and
``true`` are equal. A property missing from the Klaviyo profile equals only ``""``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

PropertyType = Literal["bool", "int", "money", "str"]

#: Each max-value field -> its type, in the max-value CSV's column order (after ``Email``).
#: These are memberkit's own names for the fields; what Klaviyo calls each one, and
#: whether it is sent at all, is a ``PropertyMap`` (``klaviyo_properties`` in the config).
FIELD_TYPES: Final[dict[str, PropertyType]] = {
    "has_dividends": "bool",
    "discount_code": "str",
    "discount_value": "money",
    "min_spend": "money",
    "multiple_codes": "bool",
    "number_of_codes": "int",
    "balance": "money",
    "account_state": "str",
    "member_since": "str",
}
FIELDS: Final[tuple[str, ...]] = tuple(FIELD_TYPES)

#: The Klaviyo property names today's files use: every field is sent, under its own
#: name, except ``member_since``, which Klaviyo knows as ``MBR_date_created``.
DEFAULT_NAMES: Final[dict[str, str]] = {
    **{name: name for name in FIELDS},
    "member_since": "MBR_date_created",
}

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

PropertyValue = bool | int | Decimal | str


class PropertyMapError(ValueError):
    """A property mapping that cannot work (a duplicate name, nothing sent, ...).

    ``field`` is the field whose name is at fault (None when it is the whole map).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class PropertyMap:
    """Which max-value fields are sent to Klaviyo, and under which property names.

    ``sent`` holds (field, Klaviyo name) pairs in the fields' column order; a field
    left out is neither written to the max-value CSV nor compared nor uploaded.
    """

    sent: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, names: Mapping[str, str]) -> PropertyMap:
        """From field -> Klaviyo name (``""``: not sent); ``PropertyMapError`` if unusable.

        Fields missing from ``names`` keep their default name. A name must be
        non-empty text without surrounding spaces, must not start with ``$``
        (Klaviyo's own special properties) or be ``Email`` (the CSV's first column),
        and two fields cannot share one name.
        """
        unknown = [name for name in names if name not in FIELD_TYPES]
        if unknown:
            raise PropertyMapError(
                f"unknown max-value field {unknown[0]!r}; the fields are {', '.join(FIELDS)}",
                field=unknown[0],
            )
        sent: list[tuple[str, str]] = []
        owner: dict[str, str] = {}
        for field in FIELDS:
            name = names.get(field, DEFAULT_NAMES[field])
            if name == "":
                continue
            if name != name.strip() or any(ord(ch) < 32 for ch in name):
                raise PropertyMapError(
                    f"property name {name!r} has surrounding spaces or control characters",
                    field=field,
                )
            if name.startswith("$"):
                raise PropertyMapError(
                    f"property name {name!r} starts with '$', which Klaviyo keeps "
                    "for its own special properties",
                    field=field,
                )
            if name.casefold() == "email":
                raise PropertyMapError(
                    f"property name {name!r} is the max-value file's Email column",
                    field=field,
                )
            if name.casefold() in owner:
                raise PropertyMapError(
                    f"property name {name!r} is already the name of "
                    f"{owner[name.casefold()]}; each field needs its own",
                    field=field,
                )
            owner[name.casefold()] = field
            sent.append((field, name))
        if not sent:
            raise PropertyMapError("no max-value property is sent: name at least one")
        return cls(tuple(sent))

    @property
    def names(self) -> tuple[str, ...]:
        """The Klaviyo property names sent, in column order."""
        return tuple(name for _, name in self.sent)

    @property
    def columns(self) -> tuple[str, ...]:
        """The max-value CSV's header: ``Email``, then the names sent."""
        return ("Email", *self.names)

    @property
    def types(self) -> dict[str, PropertyType]:
        """Klaviyo property name -> type, for the properties sent."""
        return {name: FIELD_TYPES[field] for field, name in self.sent}

    @property
    def cell_indexes(self) -> tuple[int, ...]:
        """Positions, in a full row of cells (``Email`` then every field), of the columns."""
        return (0, *(1 + FIELDS.index(field) for field, _ in self.sent))

    @property
    def sends_everything_as_default(self) -> bool:
        """True when this map writes exactly today's columns (the fast path needs no picking)."""
        return self.sent == DEFAULT_PROPERTIES.sent

    def pick(self, full_cells: Sequence[str]) -> list[str]:
        """The CSV row of this map from a full row (``Email`` then every field's cell)."""
        return [full_cells[i] for i in self.cell_indexes]


DEFAULT_PROPERTIES: Final[PropertyMap] = PropertyMap.of(DEFAULT_NAMES)

#: Today's defaults, as module constants: property name -> type, the names, the CSV header.
PROPERTY_TYPES: Final[dict[str, PropertyType]] = DEFAULT_PROPERTIES.types
PROPERTY_NAMES: Final[tuple[str, ...]] = DEFAULT_PROPERTIES.names
CSV_COLUMNS: Final[tuple[str, ...]] = DEFAULT_PROPERTIES.columns


@dataclass(frozen=True, slots=True)
class MaxValueRow:
    """One member's max-value fields. ``email`` is as written (trimmed)."""

    email: str
    has_dividends: bool
    discount_code: str
    discount_value: Decimal
    min_spend: Decimal
    multiple_codes: bool
    number_of_codes: int
    balance: Decimal
    account_state: str
    member_since: str

    def fields(self) -> dict[str, PropertyValue]:
        """Every field with its type (money as 2-decimal ``Decimal``), by field name."""
        return {
            "has_dividends": self.has_dividends,
            "discount_code": self.discount_code,
            "discount_value": self.discount_value.quantize(CENT),
            "min_spend": self.min_spend.quantize(CENT),
            "multiple_codes": self.multiple_codes,
            "number_of_codes": self.number_of_codes,
            "balance": self.balance.quantize(CENT),
            "account_state": self.account_state,
            "member_since": self.member_since,
        }

    def properties(self, properties: PropertyMap = DEFAULT_PROPERTIES) -> dict[str, PropertyValue]:
        """The properties sent, by Klaviyo name, with their types."""
        values = self.fields()
        return {name: values[field] for field, name in properties.sent}

    def csv_cells(self, properties: PropertyMap = DEFAULT_PROPERTIES) -> list[str]:
        """The CSV row: ``Email`` then the properties; money with 2 decimals, ``true``/``false``."""
        return [self.email, *(format_property(v) for v in self.properties(properties).values())]


def format_property(value: PropertyValue) -> str:
    """A property as CSV text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value.quantize(CENT):f}"
    return str(value)


class PropertyParseError(ValueError):
    """A max-value cell that does not hold its property's type."""


def parse_property(
    name: str, text: str, properties: PropertyMap = DEFAULT_PROPERTIES
) -> PropertyValue:
    """Parse one max-value CSV cell into its typed value; raise ``PropertyParseError``."""
    kind = properties.types[name]
    stripped = text.strip()
    if kind == "bool":
        low = stripped.lower()
        if low in ("true", "false"):
            return low == "true"
        raise PropertyParseError(f"{name}: expected true or false, got {text!r}")
    if kind == "int":
        try:
            return int(stripped)
        except ValueError:
            raise PropertyParseError(f"{name}: expected a whole number, got {text!r}") from None
    if kind == "money":
        money = _to_money(stripped)
        if money is None:
            raise PropertyParseError(f"{name}: expected an amount like 10.00, got {text!r}")
        try:
            # As the update writes it: 2 decimals (Klaviyo receives 10.00, not 10).
            return money.quantize(CENT)
        except InvalidOperation:
            raise PropertyParseError(f"{name}: value is too large: {text[:80]!r}") from None
    return text


def properties_from_cells(
    cells: Mapping[str, str], properties: PropertyMap = DEFAULT_PROPERTIES
) -> dict[str, PropertyValue]:
    """The typed properties of a max-value CSV row keyed by column name."""
    return {
        name: parse_property(name, cells.get(name, ""), properties) for name in properties.names
    }


def row_from_cells(cells: Mapping[str, str]) -> MaxValueRow:
    """A ``MaxValueRow`` from a max-value CSV row with today's default columns."""
    values = properties_from_cells(cells)
    by_field: dict[str, Any] = {field: values[name] for field, name in DEFAULT_PROPERTIES.sent}
    return MaxValueRow(email=cells.get("Email", "").strip(), **by_field)


def _to_money(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        candidate = value
    elif isinstance(value, int):
        candidate = Decimal(value)
    elif isinstance(value, float):
        # Profiles read without parse_float=Decimal: use the shortest repr, never binary noise.
        candidate = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            candidate = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return candidate if candidate.is_finite() else None


def _normalise(kind: PropertyType, theirs: object) -> object:
    """Klaviyo's stored value in our type, or a sentinel that equals nothing of ours."""
    if kind == "bool":
        if isinstance(theirs, bool):
            return theirs
        if isinstance(theirs, str) and theirs.strip().lower() in ("true", "false"):
            return theirs.strip().lower() == "true"
        return _MISMATCH
    if kind == "int":
        if isinstance(theirs, bool):
            return _MISMATCH
        if isinstance(theirs, int):
            return theirs
        money = _to_money(theirs)
        if money is not None and money == money.to_integral_value():
            return int(money)
        return _MISMATCH
    if kind == "money":
        money = _to_money(theirs)
        return _MISMATCH if money is None else money
    return theirs if isinstance(theirs, str) else _MISMATCH


_MISMATCH = object()


def property_equal(
    name: str,
    ours: PropertyValue,
    theirs: object,
    *,
    present: bool,
    properties: PropertyMap = DEFAULT_PROPERTIES,
) -> bool:
    """Whether Klaviyo's value ``theirs`` equals ``ours`` for property ``name``."""
    if not present or theirs is None:
        return ours == ""
    return _normalise(properties.types[name], theirs) == ours


def changed_properties(
    row: MaxValueRow,
    profile_properties: Mapping[str, Any],
    properties: PropertyMap = DEFAULT_PROPERTIES,
) -> list[str]:
    """Names of the sent properties whose Klaviyo value differs from ``row``'s (empty: none)."""
    ours = row.properties(properties)
    return [
        name
        for name in properties.names
        if not property_equal(
            name,
            ours[name],
            profile_properties.get(name),
            present=name in profile_properties,
            properties=properties,
        )
    ]


def subset_properties(
    profile_properties: Mapping[str, Any], properties: PropertyMap = DEFAULT_PROPERTIES
) -> dict[str, Any]:
    """Only the sent max-value properties of a Klaviyo profile (what the cache keeps)."""
    return {
        name: profile_properties[name] for name in properties.names if name in profile_properties
    }


def header_problems(
    header: Sequence[str], properties: PropertyMap = DEFAULT_PROPERTIES
) -> list[str]:
    """Required max-value columns missing from a CSV header (case-sensitive, trimmed)."""
    present = {h.strip() for h in header}
    return [column for column in properties.columns if column not in present]
