"""The Klaviyo profile index: what Klaviyo holds for each member, keyed by email.

The rewards update compares each member's max-value properties against it to
write (and upload) only changed profiles; the Klaviyo client builds it when it
fetches profiles. Plain data: the cache file that stores it between runs is
``files.profile_cache``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

CacheMode = Literal["segment", "all"]


class CachedProfile(TypedDict):
    id: str
    properties: dict[str, Any]


@dataclass
class ProfileIndex:
    """Klaviyo profiles keyed by lower-cased email, with where and when they came from."""

    mode: CacheMode
    segment_id: str | None
    fetched_at: dt.datetime
    profiles: dict[str, CachedProfile] = field(default_factory=dict)
    # Start of the last *full* fetch (an incremental refresh keeps it); None = unknown.
    full_fetched_at: dt.datetime | None = None

    def get(self, email: str) -> CachedProfile | None:
        """The profile for ``email`` (any case, surrounding spaces ignored)."""
        return self.profiles.get(email.strip().lower())

    def age_seconds(self, now: dt.datetime) -> float:
        return (now - self.fetched_at).total_seconds()

    def is_fresh(self, ttl_seconds: int, now: dt.datetime) -> bool:
        """Younger than ``ttl_seconds``, counted from the start of the fetch."""
        return 0 <= self.age_seconds(now) < ttl_seconds
