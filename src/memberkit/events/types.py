"""The outbox event types, as the rest of the code names them.

The ledger's types are defined in ``domain.events``; the two the daily
schedule and rewards add (``points/expiring`` reminders, ``reward/issued``)
are named here, and ``ALL_EVENT_TYPES`` is every type a sink may receive
(it matches ``config.EVENT_TYPE_NAMES``, which a test checks).
"""

from __future__ import annotations

from typing import Final

from memberkit.domain.events import (
    EVENT_TYPES,
    POINTS_ADDED,
    POINTS_DEDUCTED,
    POINTS_EXPIRED,
    PROFILE_UPDATED,
    TIER_CHANGED,
    MemberIdentity,
)

POINTS_EXPIRING: Final = "points/expiring"
REWARD_ISSUED: Final = "reward/issued"

ALL_EVENT_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys((*EVENT_TYPES, POINTS_EXPIRING, REWARD_ISSUED))
)

__all__ = [
    "ALL_EVENT_TYPES",
    "EVENT_TYPES",
    "POINTS_ADDED",
    "POINTS_DEDUCTED",
    "POINTS_EXPIRED",
    "POINTS_EXPIRING",
    "PROFILE_UPDATED",
    "REWARD_ISSUED",
    "TIER_CHANGED",
    "MemberIdentity",
]
