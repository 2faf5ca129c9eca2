"""The event vocabulary: which event a change writes, and what its payload carries (no I/O).

Every payload carries the event's member (``id``, ``email``, ``shopify_id``)
under ``member``; the rest depends on the type (see ``docs/ledger.md``):

* ``points/added``, ``points/deducted``, ``points/expired``: one ledger entry:
  ``entry_id``, ``kind``, ``points`` (signed, as the entry), ``source``,
  ``source_ref``, ``expires_on``, ``balance_after``, ``debt_after``.
* ``tier/changed``: ``from_tier``, ``to_tier``, ``reason``, ``tier_change_id``,
  ``reward_entry_id``, ``balance_after``.
* ``profile/updated``: ``profile_change_id`` (0 for a new member),
  ``created``, ``changed`` (field -> {"before", "after"}).

Payloads are plain JSON values: points are ints, dates ISO strings, money strings.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

POINTS_ADDED: Final = "points/added"
POINTS_DEDUCTED: Final = "points/deducted"
POINTS_EXPIRED: Final = "points/expired"
TIER_CHANGED: Final = "tier/changed"
PROFILE_UPDATED: Final = "profile/updated"
# A redeemed reward's code was created in Shopify and added to the wallet (issue 13):
# ``redemption_id``, ``reward``, ``points_cost``, ``code`` (the wallet entry), ``balance_after``.
REWARD_ISSUED: Final = "reward/issued"

EVENT_TYPES: tuple[str, ...] = (
    POINTS_ADDED,
    POINTS_DEDUCTED,
    POINTS_EXPIRED,
    TIER_CHANGED,
    PROFILE_UPDATED,
    REWARD_ISSUED,
)


@dataclass(frozen=True)
class MemberIdentity:
    """Who an event is about, as every payload names them."""

    id: int
    email: str | None
    shopify_id: str | None

    def to_json(self) -> dict[str, Any]:
        """The ``member`` object of a payload."""
        return {"id": self.id, "email": self.email, "shopify_id": self.shopify_id}


def entry_event_type(kind: str, points: int) -> str:
    """The event a ledger entry writes: expiries expire, otherwise by the sign."""
    if kind == "expiry":
        return POINTS_EXPIRED
    return POINTS_ADDED if points > 0 else POINTS_DEDUCTED


def json_value(value: Any) -> Any:
    """A value as a payload holds it: dates ISO 8601, Decimals as strings."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def entry_payload(
    member: MemberIdentity,
    *,
    entry_id: int,
    kind: str,
    points: int,
    source: str,
    source_ref: str | None,
    expires_on: dt.date | None,
    balance_after: int,
    debt_after: int,
) -> dict[str, Any]:
    """The payload of a ``points/*`` event."""
    return {
        "member": member.to_json(),
        "entry_id": entry_id,
        "kind": kind,
        "points": points,
        "source": source,
        "source_ref": source_ref,
        "expires_on": json_value(expires_on),
        "balance_after": balance_after,
        "debt_after": debt_after,
    }


_text = json.encoder.encode_basestring


def _json_text(value: str | None) -> str:
    return "null" if value is None else str(_text(value))


def member_json(member: MemberIdentity) -> str:
    """``member`` as the JSON text every payload embeds (keys sorted)."""
    return (
        f'{{"email": {_json_text(member.email)}, "id": {member.id}, '
        f'"shopify_id": {_json_text(member.shopify_id)}}}'
    )


def entry_payload_json(
    member: str,
    *,
    entry_id: int,
    kind: str,
    points: int,
    source: str,
    source_ref: str | None,
    expires_on: dt.date | None,
    balance_after: int,
    debt_after: int,
) -> str:
    """``json.dumps(entry_payload(...), sort_keys=True)``, built directly.

    A bulk posting writes one event per entry; formatting the text here costs a
    fraction of encoding a dict, and a test checks the two agree.
    """
    expires = "null" if expires_on is None else f'"{expires_on.isoformat()}"'
    return (
        f'{{"balance_after": {balance_after}, "debt_after": {debt_after}, '
        f'"entry_id": {entry_id}, "expires_on": {expires}, "kind": {_json_text(kind)}, '
        f'"member": {member}, "points": {points}, "source": {_json_text(source)}, '
        f'"source_ref": {_json_text(source_ref)}}}'
    )
