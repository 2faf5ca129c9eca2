"""Reward codes: the JSON code objects kept in a customer's three code metafields.

A metafield cell holds a JSON array of objects (a blank cell is an empty list)::

    [{"code": "DIV-7KQ2-91XZ", "value": "10.00", "min_spend": "50.00", "expires": "2027-03-31"}]

Codes are written back exactly as they were read (keys, key order and value
types), so each ``RewardCode`` keeps its original object in ``raw`` next to the
typed fields the rules use. Numbers are parsed as ``Decimal`` and written back
with their original digits; money is never a float.

Rules for available codes: ``code`` is a non-empty string; ``value`` is money
(``domain.money.parse_money``); ``min_spend`` is money too, and absent or null means no
minimum; ``expires`` is an ISO date or datetime
(a datetime counts on its date in the store's time zone), absent or null means
it never expires. Used and expired lists must be arrays of objects; their codes
are only read to recognise codes that were already used.

A cell is data from outside, so nothing in it may stop a run: JSON nested too
deeply, a number with thousands of digits, ``1e309``: each is a
``CodeListError`` with a reason in the user's words, and the row is rejected.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from memberkit.domain.dates import DateParseError, local_date
from memberkit.domain.echo import cut, echo
from memberkit.domain.money import decimal_literal, parse_money

ZERO = Decimal("0")
_encode_string = json.encoder.encode_basestring  # the C-accelerated JSON string encoder
_DECODER = json.JSONDecoder(parse_float=decimal_literal)


class _NeedsDecimal(Exception):
    """Internal: a value the standard JSON encoder cannot write with its original digits."""


def _refuse(value: object) -> object:
    raise _NeedsDecimal


# Fast path for dump_compact: the C encoder (made once, not per call as json.dumps
# does), which refuses Decimals: those need our own writer to keep their digits.
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER: Any = (
    _c_make_encoder(None, _refuse, _encode_string, None, ":", ",", False, False, True)
    if _c_make_encoder is not None
    else None
)


class CodeListError(ValueError):
    """A metafield cell that is not a valid code list; the message says what is wrong."""


@dataclass(slots=True)
class RewardCode:
    """One available code: its original JSON object and the typed values the rules use."""

    raw: dict[str, Any]
    code: str
    key: str  # how codes match: trimmed and lower-cased
    value: Decimal
    min_spend: Decimal
    expires: dt.date | None
    # Best first in ascending order: (-value, -expiry day, code); no expiry counts as latest.
    rank: tuple[Decimal, int, str]

    @classmethod
    def of(
        cls, raw: dict[str, Any], value: Decimal, min_spend: Decimal, expires: dt.date | None
    ) -> RewardCode:
        """A code from its object and typed values (key and rank derived)."""
        code = str(raw["code"])
        return cls(raw, code, code_key(code), value, min_spend, expires, rank(value, expires, code))


_NEVER_RANK = -dt.date.max.toordinal()


def rank(value: Decimal, expires: dt.date | None, code: str) -> tuple[Decimal, int, str]:
    """The sort rank of a code: value descending, expiry descending (none = latest), code A-Z."""
    return (-value, _NEVER_RANK if expires is None else -expires.toordinal(), code)


def code_key(code: str) -> str:
    """The form in which codes are compared: surrounding spaces and case ignored."""
    return code.strip().lower()


def parse_code_objects(cell: str, decoder: json.JSONDecoder = _DECODER) -> list[dict[str, Any]]:
    """The JSON array of objects in a metafield cell; blank or ``null`` is ``[]``.

    Raise ``CodeListError``.
    """
    if not cell or cell.isspace():
        return []
    try:
        # raw_decode skips json.loads' wrappers; leading/trailing space is checked here.
        text = cell if cell[0] in "[{" else cell.lstrip()
        data, end = decoder.raw_decode(text)
        if end != len(text) and text[end:].strip():
            raise json.JSONDecodeError("Extra data", text, end)
    except json.JSONDecodeError as exc:
        raise CodeListError(f"malformed JSON ({exc.msg} at character {exc.pos + 1})") from None
    except RecursionError:
        raise CodeListError("code list nested too deeply (lists inside lists)") from None
    except ValueError:
        # Python refuses integers of more than 4,300 digits (sys.int_info).
        raise CodeListError("a number in it has too many digits") from None
    if "\\u" in text and ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(data):
        # JSON may escape half of a UTF-16 pair on its own; no file can hold that text.
        raise CodeListError("it holds an invalid character escape (half of a \\u pair)")
    if data is None:
        # JSON null: what some tools write for a cleared metafield. Nothing to hold.
        return []
    if data.__class__ is not list:
        raise CodeListError(f"expected a JSON array of code objects, got {type(data).__name__}")
    for position, item in enumerate(data, start=1):
        if item.__class__ is not dict:
            raise CodeListError(f"item {position} is not an object: {_short(item)}")
    return data


def _has_lone_surrogate(data: object) -> bool:
    """Whether any string (key or value) in decoded JSON holds a lone surrogate."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= char <= "\udfff" for char in item):
                return True
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return False


class CodeParser:
    """Parses available codes for one run, remembering amounts and dates already seen.

    A store has a handful of distinct amounts ("10.00") and expiry dates across a
    million customers, so each distinct text is parsed once: the fast path below
    is dictionary look-ups, and anything unusual goes through ``_parse_one``,
    which also produces the error messages.
    """

    _CACHE_LIMIT = 100_000

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        # Ready-made (amount, -amount) for amounts seen: by text or whole number, and by
        # the identity of the interned Decimal a JSON number literal was read as (by value
        # would make 10.000 look like the valid 10.00). Dates: text -> (date, -day number).
        self._money: dict[str | int, tuple[Decimal, Decimal]] = {}
        self._money_numbers: dict[int, tuple[Decimal, Decimal]] = {}
        self._literals: dict[str, Decimal] = {}
        self._dates: dict[str, tuple[dt.date, int]] = {}
        self._decoder = json.JSONDecoder(parse_float=self._number_literal)

    def _number_literal(self, text: str) -> Decimal:
        number = self._literals.get(text)
        if number is None:
            if len(self._literals) >= self._CACHE_LIMIT:
                # Forget identities together with the objects that carried them.
                self._literals.clear()
                self._money_numbers.clear()
            number = self._literals[text] = decimal_literal(text)
        return number

    def code_objects(self, cell: str) -> list[dict[str, Any]]:
        """``parse_code_objects`` for this run (JSON numbers read as interned Decimals)."""
        return parse_code_objects(cell, self._decoder)

    def available_codes(self, objects: list[dict[str, Any]]) -> list[RewardCode]:
        """Typed available codes; raise ``CodeListError`` naming the first bad code."""
        codes: list[RewardCode] = []
        money, numbers, dates = self._money, self._money_numbers, self._dates
        for position, raw in enumerate(objects, start=1):
            code = raw.get("code")
            value = raw.get("value")
            min_spend = raw.get("min_spend")
            expires = raw.get("expires")
            try:
                key = code.strip().lower()  # type: ignore[union-attr]
                if not key:
                    raise KeyError(key)
                kind = value.__class__
                amount, negated = (
                    money[value] if kind is str or kind is int else numbers[id(value)]  # type: ignore[index]
                )
                if min_spend is None:
                    least = ZERO
                else:
                    kind = min_spend.__class__
                    least = (
                        money[min_spend] if kind is str or kind is int else numbers[id(min_spend)]
                    )[0]
                if expires is None:
                    day, order = None, _NEVER_RANK
                else:
                    day, order = dates[expires]
                codes.append(
                    RewardCode(
                        raw,
                        code,  # type: ignore[arg-type]
                        key,
                        amount,
                        least,
                        day,
                        (negated, order, code),  # type: ignore[arg-type]
                    )
                )
            except (KeyError, TypeError, AttributeError):
                codes.append(self._parse_one(position, raw))
        return codes

    def _parse_one(self, position: int, raw: dict[str, Any]) -> RewardCode:
        code = raw.get("code")
        if not isinstance(code, str) or not code.strip():
            raise CodeListError(f'code {position} has no "code" text: {_short(raw)}')
        label = f"code {position} ({cut(code)})"
        if "value" not in raw:
            raise CodeListError(f'{label} has no "value"')
        try:
            value = self._amount(raw["value"])
        except ValueError as exc:
            raise CodeListError(f"{label}: value {exc}") from None
        min_spend_raw = raw.get("min_spend")
        try:
            min_spend = ZERO if min_spend_raw is None else self._amount(min_spend_raw)
        except ValueError as exc:
            raise CodeListError(f"{label}: min_spend {exc}") from None
        expires_raw = raw.get("expires")
        expires: dt.date | None = None
        if expires_raw is not None:
            if not isinstance(expires_raw, str):
                raise CodeListError(f"{label}: expires {_short(expires_raw)} is not a date")
            try:
                expires = local_date(expires_raw, self.zone)
            except DateParseError:
                raise CodeListError(
                    f"{label}: expires {echo(expires_raw)} is not a date (expected YYYY-MM-DD)"
                ) from None
            self._remember(self._dates, expires_raw, (expires, -expires.toordinal()))
        return RewardCode(
            raw, code, code_key(code), value, min_spend, expires, rank(value, expires, code)
        )

    def _amount(self, value: object) -> Decimal:
        amount = parse_money(value)
        kind = value.__class__
        if kind is str or kind is int:
            self._remember(self._money, value, (amount, -amount))
        elif isinstance(value, Decimal) and self._literals.get(str(value)) is value:
            # Only interned literals: their identity cannot be reused while cached.
            self._money_numbers[id(value)] = (amount, -amount)
        return amount

    def _remember(self, cache: dict[Any, Any], key: object, parsed: object) -> None:
        if len(cache) >= self._CACHE_LIMIT:
            cache.clear()
        cache[key] = parsed


def parse_available_codes(objects: list[dict[str, Any]], zone: ZoneInfo) -> list[RewardCode]:
    """Typed available codes from JSON objects; raise ``CodeListError`` on the first bad one."""
    return CodeParser(zone).available_codes(objects)


def code_texts(objects: list[dict[str, Any]]) -> Iterator[str]:
    """The ``code`` strings of a list of code objects (objects without one are passed over)."""
    for raw in objects:
        code = raw.get("code")
        if isinstance(code, str):
            yield code


def dump_compact(value: Any) -> str:
    """Compact JSON that writes ``Decimal`` numbers with their original digits.

    ``json.dumps`` would need floats for numbers; a code read as ``10.00`` must be
    written back as ``10.00``, not ``10.0`` or ``"10.00"``.
    """
    if _C_ENCODER is not None:
        try:
            return "".join(_C_ENCODER(value, 0))
        except _NeedsDecimal:
            return _dump_with_marked_decimals(value)
    return _dump_with_decimals(value)


_MARK = "\\u0000"  # how the JSON encoder writes the NUL that brackets a marked Decimal


def _dump_with_marked_decimals(value: Any) -> str:
    """The C encoder with each Decimal written as a NUL-bracketed string, then unquoted.

    Several times faster than ``_dump_with_decimals``. Safe because the markers are
    counted: any other NUL (or text that looks like its escape) in the data makes
    the count differ, and the plain writer is used instead.
    """
    marked = 0

    def mark(number: object) -> str:
        nonlocal marked
        if not isinstance(number, Decimal):
            raise TypeError(f"cannot write {type(number).__name__} as JSON")
        marked += 1
        return f"\0{number}\0"

    encoder = _c_make_encoder(None, mark, _encode_string, None, ":", ",", False, False, True)
    text = "".join(encoder(value, 0))
    if text.count(_MARK) != 2 * marked:
        return _dump_with_decimals(value)
    return text.replace('"' + _MARK, "").replace(_MARK + '"', "")


class CompactJson:
    """``dump_compact`` with one encoder made once, for many calls from one thread.

    Writes exactly what ``dump_compact`` writes, in a single pass of the C encoder
    even when there are ``Decimal`` numbers (counted markers, as in
    ``_dump_with_marked_decimals``). Not for sharing between threads: the count
    of markers lives in the instance.
    """

    def __init__(self) -> None:
        self._marked = 0
        self._encoder: Any = (
            _c_make_encoder(None, self._mark, _encode_string, None, ":", ",", False, False, True)
            if _c_make_encoder is not None
            else None
        )

    def _mark(self, number: object) -> str:
        if not isinstance(number, Decimal):
            raise TypeError(f"cannot write {type(number).__name__} as JSON")
        self._marked += 1
        return f"\0{number}\0"

    def dumps(self, value: Any) -> str:
        """``dump_compact(value)``."""
        if value.__class__ is list and not value:
            return "[]"
        encoder = self._encoder
        if encoder is None:
            return _dump_with_decimals(value)
        self._marked = 0
        text: str = "".join(encoder(value, 0))
        marked = self._marked
        if not marked:
            return text
        if text.count(_MARK) != 2 * marked:
            return _dump_with_decimals(value)
        return text.replace('"' + _MARK, "").replace(_MARK + '"', "")


def _dump_with_decimals(value: Any) -> str:
    if isinstance(value, str):
        return str(_encode_string(value))
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{_encode_string(str(k))}:{_dump_with_decimals(v)}" for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(_dump_with_decimals(item) for item in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, Decimal | int):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _short(value: object, limit: int = 60) -> str:
    if isinstance(value, str):
        value = value[:limit]  # never quote a huge cell whole
    try:
        text = dump_compact(value)
    except (TypeError, ValueError, RecursionError):
        text = echo(value, limit)
    return cut(text, limit)
