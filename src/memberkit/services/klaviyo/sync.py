"""Klaviyo sync use cases: get a profile index (cache or fetch), upload a max-value CSV.

- ``get_profile_index(settings, mode=..., refresh_cache=...)``: the cached index
  while it is younger than ``klaviyo.cache_ttl`` (counted from the start of its
  fetch); otherwise a fetch, written atomically to the cache. In ``all`` mode a
  stale cache is refreshed incrementally unless its last full fetch is older than
  ``klaviyo.full_refresh_days``. ``refresh_cache`` deletes the cache first; an
  unreadable cache is fetched again with a warning.
- ``upload_max_value_csv(settings, path, ...)``: reads any max-value-shaped CSV,
  uploads it with bulk import jobs (or only plans them, on dry run), writes the
  profiles that failed to ``klaviyo_failed_YYYY-MM-DD.csv`` (same columns plus
  ``Failure Reason``), and writes the uploaded properties through to the cache.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from memberkit.config import Settings
from memberkit.domain.max_value import (
    DEFAULT_PROPERTIES,
    PropertyMap,
    PropertyParseError,
    format_property,
    header_problems,
    properties_from_cells,
)
from memberkit.domain.profile_index import ProfileIndex
from memberkit.errors import ConfigError, InputFileError
from memberkit.files.klaviyo_failed import failed_file_path, write_failed_profiles
from memberkit.files.profile_cache import (
    ProfileCacheError,
    cache_path,
    read_profile_index,
    write_profile_index,
)
from memberkit.integrations.klaviyo import (
    KEY_VARIABLE,
    BulkProfileUploader,
    KlaviyoClient,
    ProfileFetcher,
    ProfileSource,
    ProfileUpdate,
    RetryPolicy,
    UploadReport,
)
from memberkit.integrations.klaviyo.upload import iter_chunks
from memberkit.runlog import mask_secret

log = logging.getLogger("memberkit.klaviyo_sync")

FetchChoice = Literal["segment", "all", "suppressed"]
IndexOrigin = Literal["cache", "fetched", "refreshed"]


def make_client(settings: Settings) -> KlaviyoClient:
    """A client from the settings and ``KLAVIYO_PRIVATE_KEY``; a missing key is exit 2."""
    key = settings.secret(KEY_VARIABLE)
    if key is None:
        raise ConfigError(
            f"{KEY_VARIABLE} is not set: Klaviyo needs a private API key",
            hint=f"set {KEY_VARIABLE} in the environment or in {settings.secrets_file} "
            f"({KEY_VARIABLE}=pk_...); the key needs the scopes listed in the README",
        )
    mask_secret(key.reveal())
    return KlaviyoClient(
        api_key=key,
        base_url=settings.klaviyo.base_url,
        revision=settings.klaviyo.revision,
        timeout_seconds=settings.klaviyo.timeout_seconds,
        retry=RetryPolicy(
            limit=settings.klaviyo_upload.retry_limit,
            delay_ms=settings.klaviyo_upload.retry_delay_ms,
        ),
        max_connections=max(8, settings.klaviyo.fetch_workers + 4),
    )


def resolve_source(settings: Settings, mode: FetchChoice | None) -> ProfileSource:
    """The profiles a mode fetches; a segment id the mode needs must be configured."""
    choice: FetchChoice = mode or settings.klaviyo.fetch_mode
    where = str(settings.config_path) if settings.config_path else "settings"
    if choice == "all":
        return ProfileSource("all")
    key = "suppressed_segment_id" if choice == "suppressed" else "segment_id"
    segment_id = getattr(settings.klaviyo, key)
    if not segment_id:
        raise ConfigError(
            f"{where}: klaviyo.{key} is not set, but {choice} mode needs it",
            hint=f"set klaviyo.{key} to the Klaviyo segment id (e.g. XVnnDX)",
        )
    return ProfileSource("segment", segment_id)


@dataclass
class IndexResult:
    """A profile index and where it came from."""

    index: ProfileIndex
    origin: IndexOrigin
    path: Path
    requests: int = 0
    seconds: float = 0.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def get_profile_index(
    settings: Settings,
    *,
    mode: FetchChoice | None = None,
    refresh_cache: bool = False,
    client: KlaviyoClient | None = None,
    now: Callable[[], dt.datetime] = _utcnow,
    on_page: Callable[[int], None] | None = None,
) -> IndexResult:
    """The profile index for ``mode`` (default ``klaviyo.fetch_mode``), cached or fetched."""
    source = resolve_source(settings, mode)
    path = cache_path(settings.klaviyo.cache_dir, source.mode, source.segment_id)
    cached: ProfileIndex | None = None
    if refresh_cache:
        path.unlink(missing_ok=True)
    elif path.exists():
        try:
            cached = read_profile_index(path)
        except ProfileCacheError as exc:
            log.warning("%s; fetching it again from Klaviyo", exc)
        if cached is not None and (
            cached.mode != source.mode or cached.segment_id != source.segment_id
        ):
            log.warning("%s holds another index; fetching it again from Klaviyo", path)
            cached = None
    started = now()
    if cached is not None and cached.is_fresh(settings.klaviyo.cache_ttl, started):
        log.info(
            "Klaviyo profiles: %d from cache %s (fetched %s)",
            len(cached.profiles),
            path,
            cached.fetched_at.isoformat(),
        )
        return IndexResult(cached, "cache", path)

    own_client = client is None
    client = client or make_client(settings)
    clock = time.monotonic()
    try:
        fetcher = ProfileFetcher(
            client,
            source,
            workers=settings.klaviyo.fetch_workers,
            on_page=on_page,
            properties=settings.klaviyo_properties.property_map,
        )
        full_every = dt.timedelta(days=settings.klaviyo.full_refresh_days)
        if (
            cached is not None
            and source.mode == "all"
            and cached.full_fetched_at is not None
            and started - cached.full_fetched_at < full_every
        ):
            index = fetcher.refresh(cached, now=started)
            origin: IndexOrigin = "refreshed"
        else:
            index = fetcher.fetch(now=started)
            origin = "fetched"
    finally:
        if own_client:
            client.close()
    write_profile_index(path, index)
    seconds = time.monotonic() - clock
    log.info(
        "Klaviyo profiles: %d %s from %s in %.1f s (%d requests, %d without email), cached in %s",
        len(index.profiles),
        "refreshed incrementally" if origin == "refreshed" else "fetched",
        source.describe(),
        seconds,
        fetcher.stats.requests,
        fetcher.stats.without_email,
        path,
    )
    return IndexResult(index, origin, path, fetcher.stats.requests, seconds)


# ----- upload -------------------------------------------------------------------


@dataclass
class MaxValueFile:
    """A max-value CSV read for upload: the profiles to send, and the rows that cannot be."""

    updates: list[ProfileUpdate] = field(default_factory=list)
    invalid: list[tuple[dict[str, str], str]] = field(default_factory=list)
    rows: int = 0


def read_max_value_csv(path: Path, properties: PropertyMap = DEFAULT_PROPERTIES) -> MaxValueFile:
    """Read any max-value-shaped CSV (the update's output, or a failed-profiles file).

    Its columns are ``Email`` and the property names of ``properties`` (the
    ``[klaviyo_properties]`` settings); other columns are ignored.
    """
    try:
        fh = path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InputFileError(f"max-value file {path} not found") from None
    except OSError as exc:
        raise InputFileError(f"cannot read max-value file {path}: {exc.strerror}") from None
    out = MaxValueFile()
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = header_problems(header, properties)
        if missing:
            raise InputFileError(
                f"{path}: not a max-value file: missing column(s) {', '.join(missing)}; "
                f"found {', '.join(header) or 'no header'}",
                hint="memberkit klaviyo upload takes a max_value_YYYY-MM-DD.csv "
                "or klaviyo_failed_YYYY-MM-DD.csv",
            )
        reader.fieldnames = header
        for number, raw in enumerate(reader, start=2):
            out.rows += 1
            cells = {column: (raw.get(column) or "") for column in properties.columns}
            email = cells["Email"].strip()
            if not email:
                out.invalid.append((cells, f"line {number}: Email is empty"))
                continue
            try:
                values = properties_from_cells(cells, properties)
            except PropertyParseError as exc:
                out.invalid.append((cells, f"line {number}: {exc}"))
                continue
            out.updates.append(ProfileUpdate(number, email, values))
    return out


def update_cells(update: ProfileUpdate) -> dict[str, str]:
    """A profile as max-value CSV cells again (money with 2 decimals, ``true``/``false``)."""
    return {"Email": update.email, **{k: format_property(v) for k, v in update.properties.items()}}


@dataclass
class UploadResult:
    """The outcome of uploading a max-value file."""

    source: Path
    rows: int
    report: UploadReport
    invalid_rows: int = 0
    failed_path: Path | None = None
    cache_updates: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.report.failed) + self.invalid_rows

    @property
    def uploaded(self) -> int:
        return len(self.report.uploaded)


def write_through(
    updates: Sequence[ProfileUpdate],
    caches: Sequence[tuple[Path, ProfileIndex]],
) -> int:
    """Put uploaded properties into cached profiles, so tomorrow compares against today.

    Only profiles already in an index are updated (a new profile's id is unknown);
    each changed cache is rewritten atomically. Returns the profiles updated.
    """
    total = 0
    for path, index in caches:
        changed = 0
        for update in updates:
            cached = index.profiles.get(update.email.strip().lower())
            if cached is None:
                continue
            cached["properties"] = {**cached["properties"], **update.properties}
            changed += 1
        if changed:
            write_profile_index(path, index)
            log.info("Klaviyo cache %s: %d profiles updated with today's upload", path, changed)
        total += changed
    return total


def existing_caches(settings: Settings) -> list[tuple[Path, ProfileIndex]]:
    """Every readable Klaviyo cache file in ``klaviyo.cache_dir``."""
    out: list[tuple[Path, ProfileIndex]] = []
    directory = settings.klaviyo.cache_dir
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("klaviyo_*.json")):
        try:
            out.append((path, read_profile_index(path)))
        except ProfileCacheError as exc:
            log.warning("%s; not updating it", exc)
    return out


def upload_max_value_csv(
    settings: Settings,
    path: Path,
    *,
    today: dt.date,
    dry_run: bool | None = None,
    client: KlaviyoClient | None = None,
    caches: Sequence[tuple[Path, ProfileIndex]] | None = None,
) -> UploadResult:
    """Upload a max-value CSV; failed profiles go to ``klaviyo_failed_<today>.csv``.

    ``caches`` are the indexes to write the upload through to (default: every
    cache file in ``klaviyo.cache_dir``). Raises ``KlaviyoAuthError`` after writing
    the failed file when the key was refused.
    """
    clock = time.monotonic()
    dry = settings.klaviyo_upload.dry_run if dry_run is None else dry_run
    properties = settings.klaviyo_properties.property_map
    data = read_max_value_csv(path, properties)
    for cells, reason in data.invalid:
        log.warning("%s: not uploaded (%s): %s", path.name, cells.get("Email", ""), reason)
    if dry:
        # Encode every chunk as the upload would (to count jobs exactly), keep none.
        report = UploadReport(profiles=len(data.updates), dry_run=True)
        chunks = iter_chunks(
            data.updates, chunk_size=settings.klaviyo_upload.chunk_size, too_big=report.failed
        )
        report.jobs_planned = sum(1 for _ in chunks)
    else:
        own_client = client is None
        client = client or make_client(settings)
        try:
            uploader = BulkProfileUploader(
                client,
                chunk_size=settings.klaviyo_upload.chunk_size,
                job_timeout_seconds=settings.klaviyo_upload.job_timeout_seconds,
                poll_interval_seconds=settings.klaviyo_upload.poll_interval_seconds,
            )
            report = uploader.upload(data.updates)
        finally:
            if own_client:
                client.close()
    result = UploadResult(path, data.rows, report, invalid_rows=len(data.invalid))
    if dry:
        samples = ", ".join(u.email for u in data.updates[:5])
        log.info(
            "Klaviyo upload (dry run, nothing sent): %d profiles in %d jobs from %s; e.g. %s",
            len(data.updates),
            report.jobs_planned,
            path,
            samples or "none",
        )
    failed_rows = [*data.invalid]
    failed_rows += [(update_cells(f.profile), f.reason) for f in report.failed]
    if failed_rows:
        # On a dry run only the rows that cannot be sent are known to fail.
        result.failed_path = failed_file_path(settings.output.directory, today)
        write_failed_profiles(result.failed_path, failed_rows, properties.columns)
    if report.uploaded:
        result.cache_updates = write_through(
            report.uploaded, existing_caches(settings) if caches is None else caches
        )
    result.seconds = time.monotonic() - clock
    log.info(
        "Klaviyo upload of %s: %d rows, %d jobs submitted (%d complete, %d unfinished, "
        "%d refused), %d profiles uploaded, %d failed%s, %.1f s",
        path.name,
        data.rows,
        report.jobs_submitted,
        report.jobs_completed,
        report.jobs_unfinished,
        report.chunks_failed,
        result.uploaded,
        result.failed,
        f" (listed in {result.failed_path})" if result.failed_path else "",
        result.seconds,
    )
    if report.fatal is not None:
        raise type(report.fatal)(
            report.fatal.message
            + (
                f"; nothing lost: unsent profiles are in {result.failed_path}"
                if result.failed_path
                else ""
            ),
            hint=report.fatal.hint,
        )
    return result
