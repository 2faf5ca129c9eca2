"""The outbox event types, as the rest of the code names them (defined in ``domain.events``)."""

from __future__ import annotations

from memberkit.domain.events import (
    EVENT_TYPES,
    POINTS_ADDED,
    POINTS_DEDUCTED,
    POINTS_EXPIRED,
    PROFILE_UPDATED,
    TIER_CHANGED,
    MemberIdentity,
)

__all__ = [
    "EVENT_TYPES",
    "POINTS_ADDED",
    "POINTS_DEDUCTED",
    "POINTS_EXPIRED",
    "PROFILE_UPDATED",
    "TIER_CHANGED",
    "MemberIdentity",
]
