"""The nine "max value" profile properties sent to Klaviyo, their types, and how they compare.

One row per member with an email: the member's best available reward code and a
summary of their wallet. The same typed values are written to the max-value CSV,
compared against the Klaviyo profile index, and uploaded as profile properties,
so all three agree on what "changed" means.

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

#: Property name -> type, in the max-value CSV's column order (after ``Email``).
PROPERTY_TYPES: Final[dict[str, PropertyType]] = {
    "has_dividends": "bool",
    "discount_code": "str",
    "discount_value": "money",
    "min_spend": "money",
    "multiple_codes": "bool",
    "number_of_codes": "int",
    "balance": "money",
    "account_state": "str",
    "MBR_date_created": "str",
}
PROPERTY_NAMES: Final[tuple[str, ...]] = tuple(PROPERTY_TYPES)
CSV_COLUMNS: Final[tuple[str, ...]] = ("Email", *PROPERTY_NAMES)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

PropertyValue = bool | int | Decimal | str


@dataclass(frozen=True, slots=True)
class MaxValueRow:
    """One member's max-value properties. ``email`` is as written (trimmed)."""

    email: str
    has_dividends: bool
    discount_code: str
    discount_value: Decimal
    min_spend: Decimal
    multiple_codes: bool
    number_of_codes: int
    balance: Decimal
    account_state: str
    MBR_date_created: str  # the Klaviyo property's own name

    def properties(self) -> dict[str, PropertyValue]:
        """The nine properties with their types (money as 2-decimal ``Decimal``)."""
        return {
            "has_dividends": self.has_dividends,
            "discount_code": self.discount_code,
            "discount_value": self.discount_value.quantize(CENT),
            "min_spend": self.min_spend.quantize(CENT),
            "multiple_codes": self.multiple_codes,
            "number_of_codes": self.number_of_codes,
            "balance": self.balance.quantize(CENT),
            "account_state": self.account_state,
            "MBR_date_created": self.MBR_date_created,
        }

    def csv_cells(self) -> list[str]:
        """The CSV row: ``Email`` then the properties; money with 2 decimals, ``true``/``false``."""
        return [self.email, *(format_property(v) for v in self.properties().values())]


def format_property(value: PropertyValue) -> str:
    """A property as CSV text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value.quantize(CENT):f}"
    return str(value)


class PropertyParseError(ValueError):
    """A max-value cell that does not hold its property's type."""


def parse_property(name: str, text: str) -> PropertyValue:
    """Parse one max-value CSV cell into its typed value; raise ``PropertyParseError``."""
    kind = PROPERTY_TYPES[name]
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
        return money
    return text


def row_from_cells(cells: Mapping[str, str]) -> MaxValueRow:
    """A ``MaxValueRow`` from a max-value CSV row keyed by column name."""
    values: dict[str, Any] = {
        name: parse_property(name, cells.get(name, "")) for name in PROPERTY_NAMES
    }
    return MaxValueRow(email=cells.get("Email", "").strip(), **values)


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


def property_equal(name: str, ours: PropertyValue, theirs: object, *, present: bool) -> bool:
    """Whether Klaviyo's value ``theirs`` equals ``ours`` for property ``name``."""
    if not present or theirs is None:
        return ours == ""
    return _normalise(PROPERTY_TYPES[name], theirs) == ours


def changed_properties(row: MaxValueRow, profile_properties: Mapping[str, Any]) -> list[str]:
    """Names of the properties whose Klaviyo value differs from ``row``'s (empty = unchanged)."""
    ours = row.properties()
    return [
        name
        for name in PROPERTY_NAMES
        if not property_equal(
            name, ours[name], profile_properties.get(name), present=name in profile_properties
        )
    ]


def subset_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Only the nine max-value properties of a Klaviyo profile (what the cache keeps)."""
    return {name: properties[name] for name in PROPERTY_NAMES if name in properties}


def header_problems(header: Sequence[str]) -> list[str]:
    """Required max-value columns missing from a CSV header (case-sensitive, trimmed)."""
    present = {h.strip() for h in header}
    return [column for column in CSV_COLUMNS if column not in present]
