"""The earning part of the daily schedule, as one call: ``run_earning_daily``.

In order: release pending points that have fallen due, apply queued Shopify
webhooks, finish redemptions a crash left pending (when a Shopify client is
given), and recalculate tiers over ``tiers.window_days`` (downgrades only on
the first day of a month, the end of the previous period). Each step is
idempotent, so a schedule that runs twice a day, or re-runs after a crash,
changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from memberkit.clock import utcnow
from memberkit.config import Settings
from memberkit.errors import LockedError
from memberkit.services.earning.orders import EarningSummary
from memberkit.services.earning.release import ReleaseResult, release_due
from memberkit.services.earning.tiers import TierRecalculation, recalculate_tiers
from memberkit.services.earning.webhooks import AppliedWebhooks, apply_queued
from memberkit.services.program_settings import effective_settings
from memberkit.services.redemption import CreateDiscount, ResumeResult, resume_pending
from memberkit.store.database import Database


@dataclass(frozen=True)
class EarningDaily:
    """What the earning part of the daily schedule did."""

    released: ReleaseResult
    webhooks: AppliedWebhooks
    redemptions: ResumeResult | None
    tiers: TierRecalculation

    def to_json(self) -> dict[str, Any]:
        return {
            "released": self.released.__dict__,
            "webhooks": self.webhooks.to_json(),
            "redemptions": self.redemptions.__dict__ if self.redemptions else None,
            "tiers": self.tiers.__dict__,
        }


def run_earning_daily(
    db: Database,
    settings: Settings,
    *,
    create_discount: CreateDiscount | None = None,
    now: dt.datetime | None = None,
) -> EarningDaily:
    """Release, apply webhooks, resume redemptions, recalculate tiers; see the module docstring."""
    # The earning rules saved in the web admin win over the config file's.
    settings = effective_settings(db, settings)
    moment = now or utcnow()
    zone = settings.processing.zone
    released = release_due(db, zone=zone, now=moment)
    try:
        webhooks = apply_queued(
            db,
            earning=settings.earning,
            currency=settings.shopify.currency,
            zone=zone,
            now=moment,
        )
    except LockedError:
        # `memberkit serve` (web/background.py) is applying them this very moment:
        # they are applied either way, so this step does not fail for it.
        webhooks = AppliedWebhooks(applied=0, waiting=0, summary=EarningSummary())
    redemptions = (
        resume_pending(
            db,
            create_discount=create_discount,
            zone=zone,
            now=moment,
            older_than=dt.timedelta(minutes=5),  # not one a live request is still finishing
        )
        if create_discount is not None
        else None
    )
    tiers = recalculate_tiers(
        db,
        window_days=settings.tiers.window_days,
        zone=zone,
        downgrades=moment.astimezone(zone).day == 1,
        now=moment,
    )
    return EarningDaily(released, webhooks, redemptions, tiers)
