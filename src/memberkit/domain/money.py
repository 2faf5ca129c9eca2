"""Money as exports write it: plain digits read into ``Decimal``, never a float.

One rule for every amount we read (a reward code's value and minimum spend, a
customer's ``Total Spent``): plain ASCII digits with an optional decimal
point, at most 2 decimals, not negative, below ``MONEY_LIMIT``. ``-0`` is 0
(never written as ``-0.00``). Refused, with the reason: exponent forms (``1e3``,
also as JSON numbers), other scripts' digits (``١٠``, ``１２``), thousands
separators (``1,000``, ``1_000``), ``NaN`` and infinities, and anything too
large (a 5,000-digit number is "too large", not a crash).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from memberkit.domain.echo import cut, echo

#: Amounts must be below this: no reward, spend or total is a trillion, and Decimal
#: arithmetic (sums, 2-decimal rounding) stays exact far beyond it.
MONEY_LIMIT = Decimal("1000000000000")
_PLAIN_AMOUNT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)


class ExponentDecimal(Decimal):
    """A JSON number written with an exponent (``1e3``): kept, but never taken as money."""

    __slots__ = ()


def decimal_literal(text: str) -> Decimal:
    """A JSON number literal as a ``Decimal`` (an ``ExponentDecimal`` for ``1e3`` forms)."""
    if "e" in text or "E" in text:
        return ExponentDecimal(text)
    return Decimal(text)


def parse_money(value: object) -> Decimal:
    """Money from a JSON string or number; raise ``ValueError`` saying what is wrong.

    Plain ASCII digits with an optional decimal point, at most 2 decimals, not
    negative, below ``MONEY_LIMIT``. ``-0`` is ``0``. Refused: exponent forms
    (``1e3``), other scripts' digits (``١٠``), thousands separators, ``NaN``.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{_shown(value)} is not an amount")
    if isinstance(value, ExponentDecimal):
        raise ValueError(f"{_shown(value)} is written with an exponent; write plain digits")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        if value >= MONEY_LIMIT:
            raise ValueError(f"{_shown(value)} is too large")
        amount = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if _PLAIN_AMOUNT.fullmatch(text) is None:
            if "e" in text.lower() and any(c.isdigit() for c in text):
                raise ValueError(f"{echo(value)} is written with an exponent; write plain digits")
            raise ValueError(f"{echo(value)} is not an amount (digits 0-9, like 10.00)")
        amount = Decimal(text)
    else:
        raise ValueError(f"{_shown(value)} is not an amount")
    if not amount.is_finite():
        raise ValueError(f"{_shown(value)} is not an amount")
    if amount.is_zero():
        return amount.copy_abs()  # "-0" is 0: never written as -0.00
    if amount < 0:
        raise ValueError(f"{_shown(value)} is negative")
    if amount >= MONEY_LIMIT:
        raise ValueError(f"{_shown(value)} is too large")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError(f"{_shown(value)} has more than 2 decimals")
    return amount


def _shown(value: object, limit: int = 60) -> str:
    """A value for a message, as JSON would write it (strings quoted), cut."""
    if isinstance(value, str):
        return cut(json.dumps(value[:limit], ensure_ascii=False), limit)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4000:
        return "a number with thousands of digits"
    if isinstance(value, bool | int | Decimal) or value is None:
        return cut(json.dumps(value) if not isinstance(value, Decimal) else str(value), limit)
    return echo(value, limit)
