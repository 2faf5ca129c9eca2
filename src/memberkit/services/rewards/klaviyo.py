"""The daily update with Klaviyo: fetch (or reuse) the profile index, update, upload.

``run_rewards_update_with_klaviyo`` is what ``memberkit rewards update`` runs:

1. with ``klaviyo.enabled``: the profile index for the chosen mode, from the cache
   while it is fresh, else fetched (``klaviyo_sync.get_profile_index``);
2. the rewards update itself, comparing against that index, which writes the
   max-value CSV of changed profiles before anything is uploaded;
3. with ``klaviyo_upload.enabled``: the upload of that CSV (or a dry run), failed
   profiles listed in ``klaviyo_failed_YYYY-MM-DD.csv``, the upload written
   through to the cache.

All of it under the update's lock (``logs/rewards.lock``), so two cron runs never
fetch or upload at once. Exit 3 when the update rejected rows or any profile
failed to upload, after everything else was written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from memberkit.config import Settings
from memberkit.errors import EXIT_PARTIAL, UsageError
from memberkit.runlock import exclusive_lock
from memberkit.services.klaviyo.sync import (
    FetchChoice,
    IndexResult,
    UploadResult,
    get_profile_index,
    upload_max_value_csv,
)
from memberkit.services.rewards.update import (
    LOCK_FILE_NAME,
    ChangedCustomerSink,
    ProgressCallback,
    RewardsUpdateResult,
    run_rewards_update,
)

log = logging.getLogger("memberkit.rewards_klaviyo")


@dataclass
class RewardsSyncResult:
    """The update's result, and what the Klaviyo fetch and upload did (None when off)."""

    rewards: RewardsUpdateResult
    index: IndexResult | None = None
    upload: UploadResult | None = None

    @property
    def exit_code(self) -> int:
        code = self.rewards.exit_code
        if self.upload is not None and self.upload.failed:
            code = max(code, EXIT_PARTIAL)
        return code


def run_rewards_update_with_klaviyo(
    settings: Settings,
    *,
    today: dt.date | None = None,
    mode: FetchChoice | None = None,
    refresh_cache: bool = False,
    dry_run: bool | None = None,
    progress: ProgressCallback | None = None,
    on_page: Callable[[int], None] | None = None,
    on_changed: ChangedCustomerSink | None = None,
) -> RewardsSyncResult:
    """Fetch or reuse the profile index, run the update, upload the changed profiles.

    ``on_changed`` is passed to ``run_rewards_update`` (the database mirror uses it).
    """
    if not settings.klaviyo.enabled and (mode is not None or refresh_cache):
        flag = f"--{mode}" if mode else "--refresh-cache"
        raise UsageError(
            f"{flag} needs klaviyo.enabled = true",
            hint="enable Klaviyo in the config (and set KLAVIYO_PRIVATE_KEY), or drop the flag",
        )
    lock = settings.log.directory / LOCK_FILE_NAME
    with exclusive_lock(lock, what="the rewards update"):
        index = None
        if settings.klaviyo.enabled:
            index = get_profile_index(
                settings, mode=mode, refresh_cache=refresh_cache, on_page=on_page
            )
        rewards = run_rewards_update(
            settings,
            today=today,
            profile_index=index.index if index else None,
            progress=progress,
            hold_lock=False,
            on_changed=on_changed,
        )
        result = RewardsSyncResult(rewards, index)
        if settings.klaviyo_upload.enabled and index is not None:
            result.upload = upload_max_value_csv(
                settings,
                rewards.outputs.max_value_csv,
                today=rewards.run_date,
                dry_run=dry_run,
                caches=[(index.path, index.index)],
            )
    _log_summary(result)
    return result


def _log_summary(result: RewardsSyncResult) -> None:
    index, upload = result.index, result.upload
    if index is None:
        return
    origin = {"cache": "from cache", "fetched": "fetched", "refreshed": "refreshed"}[index.origin]
    line = f"Klaviyo sync: {len(index.index.profiles)} profiles loaded ({origin}, {index.path})"
    if upload is None:
        line += "; upload off"
    elif upload.report.dry_run:
        line += (
            f"; dry run: {upload.report.profiles} profiles in "
            f"{upload.report.jobs_planned} jobs not sent"
        )
    else:
        line += (
            f"; {upload.report.jobs_submitted} jobs, {upload.uploaded} profiles uploaded, "
            f"{upload.failed} failed"
        )
        if upload.failed_path:
            line += f" (listed in {upload.failed_path})"
    log.info(line)
