"""Tier rules: which tier a member's earned points qualify for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class TierRule:
    """A tier's name, rank (higher is better) and optional points threshold."""

    name: str
    rank: int
    threshold: int | None


def qualifying_tier(tiers: Iterable[TierRule], earned: int) -> TierRule | None:
    """The highest-ranked tier with a threshold at or below ``earned``; None if none.

    Tiers without a threshold are assigned by hand and never qualify automatically.
    """
    eligible = [t for t in tiers if t.threshold is not None and earned >= t.threshold]
    return max(eligible, key=lambda t: t.rank, default=None)
