"""Redemption rules: the code a reward becomes, its expiry, and its entry in the code wallet.

Plain functions (randomness is passed in), used by ``services.redemption``.

* A code is ``PREFIX-XXXX-XXXX``: 8 characters from an alphabet without look-alikes
  (no 0/O, 1/I/L), 40 bits from the caller's random bytes, so guessing one is
  hopeless and a collision (Shopify's "Code must be unique") is rare; the service
  draws a new one then.
* A reward redeemed on day D (in ``processing.timezone``) with ``validity_days`` N
  expires at the end of day D + N: the wallet's ``expires`` is that date, and the
  Shopify discount's ``endsAt`` is 00:00 the day after it, in the store's zone.
* The wallet entry is ``{"code", "value", "min_spend", "expires"}`` like every code
  the rewards update manages; a percentage reward adds ``"value_type": "percentage"``
  (its ``value`` is the percentage), since the wallet's ``value`` is otherwise money.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_RANDOM_BYTES = 8


def make_code(prefix: str, entropy: bytes) -> str:
    """``PREFIX-XXXX-XXXX`` from ``entropy`` (at least ``CODE_RANDOM_BYTES`` random bytes)."""
    if len(entropy) < CODE_RANDOM_BYTES:
        raise ValueError(f"a code needs {CODE_RANDOM_BYTES} random bytes, got {len(entropy)}")
    number = int.from_bytes(entropy[:CODE_RANDOM_BYTES], "big")
    chars = []
    for _ in range(8):
        number, digit = divmod(number, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[digit])
    body = "".join(chars)
    return f"{prefix.upper()}-{body[:4]}-{body[4:]}"


def expiry_date(redeemed_at: dt.datetime, validity_days: int, zone: ZoneInfo) -> dt.date:
    """The last day a code redeemed at ``redeemed_at`` can be used (store's calendar)."""
    return redeemed_at.astimezone(zone).date() + dt.timedelta(days=validity_days)


def ends_at(expires_on: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The discount's ``endsAt``: 00:00 after the expiry date in the store's zone, in UTC."""
    return dt.datetime.combine(expires_on + dt.timedelta(days=1), dt.time(0), zone).astimezone(
        dt.UTC
    )


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


@dataclass(frozen=True)
class IssuedCode:
    """A reward code as the wallet keeps it."""

    code: str
    value_type: str
    value: Decimal
    min_spend: Decimal | None
    expires: dt.date

    def wallet_entry(self) -> dict[str, Any]:
        """The JSON object appended to the member's available codes."""
        entry: dict[str, Any] = {
            "code": self.code,
            "value": _money(self.value),
            "min_spend": _money(self.min_spend) if self.min_spend is not None else None,
            "expires": self.expires.isoformat(),
        }
        if self.value_type == "percentage":
            entry["value_type"] = "percentage"
        return entry


def append_code(available: list[dict[str, Any]], code: IssuedCode) -> list[dict[str, Any]]:
    """The available-codes list with ``code`` added once (a replay adds nothing)."""
    if any(str(entry.get("code", "")).lower() == code.code.lower() for entry in available):
        return list(available)
    return [*available, code.wallet_entry()]
