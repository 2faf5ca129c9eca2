"""The daily rewards run, whole: what ``memberkit rewards update`` and "Run now" call.

``run_daily_update`` does, under the update's lock (a row in ``database.url``):

1. with ``klaviyo.enabled``: the profile index for the chosen mode, from the
   cache while it is fresh, else fetched;
2. the rewards update itself (``run_rewards_update``), comparing against that
   index; each reader spools the members it changed;
3. with ``klaviyo_upload.enabled``: the upload of the max-value CSV (or a dry
   run of it), failed profiles listed in ``klaviyo_failed_YYYY-MM-DD.csv``;
4. with ``database.mirror_rewards_update``: the changed members upserted and
   the run recorded.

A dry run (``dry_run=True``) writes its outputs to ``output/dry-run/`` (the
latest dry run's files replace same-named ones there), archives nothing,
copies nothing to the ``*_copy_to`` paths, sends nothing to Klaviyo and mirrors
nothing. The Klaviyo profile cache may still be fetched or refreshed: it is a
cache of Klaviyo's data, not an output.

Every run, done or failed, ends with one ``rewards update summary:`` line in
``logs/process.log`` (``status=ok``, ``partial`` or ``failed`` with the error).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memberkit.config import Settings
from memberkit.errors import EXIT_OK, EXIT_PARTIAL, MemberkitError, UsageError
from memberkit.runlog import get_logger
from memberkit.services.klaviyo.sync import (
    FetchChoice,
    IndexResult,
    UploadResult,
    get_profile_index,
    upload_max_value_csv,
)
from memberkit.services.rewards.lock import rewards_lock
from memberkit.services.rewards.mirror import RewardsMirror, RewardsRunView
from memberkit.services.rewards.report import RewardsUpdateResult, quote_value
from memberkit.services.rewards.update import ProgressCallback, run_rewards_update
from memberkit.store.database import open_database

DRY_RUN_FOLDER = "dry-run"

log = get_logger(__name__)


@dataclass
class DailyRunResult:
    """What one daily run did: the update, the Klaviyo fetch and upload, the mirror."""

    rewards: RewardsUpdateResult
    index: IndexResult | None = None  # None with Klaviyo off
    upload: UploadResult | None = None  # None with the upload off
    mirrored: RewardsRunView | None = None  # None with the mirror off, or on a dry run
    dry_run: bool = False
    output_directory: Path | None = None  # where the outputs went (output/dry-run on a dry run)
    mirror_seconds: float | None = None  # the member upsert and run record, after the files

    @property
    def exit_code(self) -> int:
        """0 done; 3 when some updates could not be written or profiles failed to upload."""
        code = self.rewards.exit_code
        if self.upload is not None and self.upload.failed:
            code = max(code, EXIT_PARTIAL)
        return code

    def summary_line(self) -> str:
        """The one ``key=value`` line that ends a run in ``process.log``."""
        status = "ok" if self.exit_code == EXIT_OK else "partial"
        extra: list[tuple[str, Any]] = [("dry_run", _flag(self.dry_run))]
        if self.index is not None:
            extra.append(("klaviyo_profiles", len(self.index.index.profiles)))
        if self.upload is not None:
            extra += [
                ("klaviyo_uploaded", self.upload.uploaded),
                ("klaviyo_failed", self.upload.failed),
            ]
        if self.mirrored is not None:
            extra += [
                ("mirrored_members", self.mirrored.members_changed),
                ("run_id", self.mirrored.id),
            ]
        if self.mirror_seconds is not None:
            extra.append(("mirror_s", f"{self.mirror_seconds:.2f}"))
        return self.rewards.summary_line(status=status, extra=extra)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def dry_run_settings(settings: Settings) -> Settings:
    """``settings`` with the outputs sent to ``output/dry-run/`` and no copies made."""
    out = settings.output
    return dataclasses.replace(
        settings,
        output=dataclasses.replace(
            out,
            directory=out.directory / DRY_RUN_FOLDER,
            customers_copy_to=None,
            max_value_copy_to=None,
            reviews_copy_to=None,
        ),
    )


def run_daily_update(
    settings: Settings,
    *,
    today: dt.date | None = None,
    mode: FetchChoice | None = None,
    dry_run: bool = False,
    refresh_cache: bool = False,
    progress: ProgressCallback | None = None,
    on_page: Callable[[int], None] | None = None,
) -> DailyRunResult:
    """Run the whole daily update (see the module docstring); return what it did.

    ``today`` defaults to today in ``processing.timezone``; ``mode`` and
    ``refresh_cache`` choose how the Klaviyo profiles are fetched (they need
    ``klaviyo.enabled``). Raise ``MemberkitError`` when the run cannot be done,
    after logging its summary line.
    """
    run_date = today or dt.datetime.now(settings.processing.zone).date()
    try:
        result = _run(
            settings,
            run_date=run_date,
            mode=mode,
            dry_run=dry_run,
            refresh_cache=refresh_cache,
            progress=progress,
            on_page=on_page,
        )
    except BaseException as exc:
        error = exc.message if isinstance(exc, MemberkitError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, KeyboardInterrupt):
            error = "interrupted"
        log.error(
            "rewards update summary: status=failed run_date=%s dry_run=%s error=%s",
            run_date.isoformat(),
            _flag(dry_run),
            quote_value(error),
        )
        raise
    _log_klaviyo(result)
    log.info(result.summary_line())
    return result


def _run(
    settings: Settings,
    *,
    run_date: dt.date,
    mode: FetchChoice | None,
    dry_run: bool,
    refresh_cache: bool,
    progress: ProgressCallback | None,
    on_page: Callable[[int], None] | None,
) -> DailyRunResult:
    if not settings.klaviyo.enabled and (mode is not None or refresh_cache):
        flag = f"--{mode}" if mode else "--refresh-cache"
        raise UsageError(
            f"{flag} needs klaviyo.enabled = true",
            hint="enable Klaviyo in the config (and set KLAVIYO_PRIVATE_KEY), or drop the flag",
        )
    run_settings = dry_run_settings(settings) if dry_run else settings
    db = open_database(settings.database.url)
    try:
        with rewards_lock(settings, db):
            mirror = RewardsMirror.off(settings) if dry_run else RewardsMirror.open(settings, db)
            with mirror:
                index = None
                if settings.klaviyo.enabled:
                    index = get_profile_index(
                        settings, mode=mode, refresh_cache=refresh_cache, on_page=on_page
                    )
                rewards = run_rewards_update(
                    run_settings,
                    today=run_date,
                    profile_index=index.index if index else None,
                    progress=progress,
                    hold_lock=False,
                    changed_spool=mirror.spool,
                    archive=not dry_run,
                    log_summary=False,
                )
                result = DailyRunResult(
                    rewards,
                    index,
                    dry_run=dry_run,
                    output_directory=run_settings.output.directory,
                )
                if settings.klaviyo_upload.enabled and index is not None:
                    result.upload = upload_max_value_csv(
                        run_settings,
                        rewards.outputs.max_value_csv,
                        today=rewards.run_date,
                        dry_run=True if dry_run else None,
                        caches=[(index.path, index.index)],
                    )
                started = time.perf_counter()
                result.mirrored = mirror.record(rewards)
                if result.mirrored is not None:
                    result.mirror_seconds = time.perf_counter() - started
    finally:
        db.dispose()
    return result


def _log_klaviyo(result: DailyRunResult) -> None:
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
