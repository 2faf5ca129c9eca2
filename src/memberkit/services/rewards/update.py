"""The daily member-rewards update: exports in; Matrixify, Klaviyo and reviews files out.

``run_rewards_update`` is the use case behind ``memberkit rewards update`` and
the entry point for later integrations:

- the Klaviyo sync passes the ``ProfileIndex`` it fetched (``profile_index=``),
  then uploads the profiles in ``result.outputs.max_value_csv``;
- the database mirror passes ``changed_spool=``: each reader process spools
  the customers it changed (Shopify id, email, the three code lists), for the
  mirror to upsert once the outputs are written; ``on_changed=`` (a callback
  per changed customer, in this process) is the simple alternative, at the
  cost of the second reader.

One pass over the customers export, outputs streamed to temporary names. Only
when every new file is complete are earlier outputs archived and the new ones
renamed into place, so a failed run leaves the earlier outputs untouched.
Temporary files a killed run left in the output folder are removed first,
under the update's lock (``services.rewards.lock``).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from memberkit.config import Settings
from memberkit.domain.codes import CodeParser
from memberkit.domain.profile_index import ProfileIndex
from memberkit.domain.rewards import find_code_reuse
from memberkit.errors import ConfigError, MemberkitError
from memberkit.files.archive import copy_output, remove_leftover_temporaries
from memberkit.files.csv_input import CsvSource, open_csv
from memberkit.files.csv_split import open_csv_range
from memberkit.files.customers_export import SETTING as CUSTOMERS_SETTING
from memberkit.files.customers_export import customers_layout
from memberkit.files.klaviyo_failed import FAILED_FILE_PATTERN
from memberkit.files.profile_cache import (
    ProfileCacheError,
    cache_path,
    read_profile_index,
)
from memberkit.files.rejects import REJECTS_PATTERN, USAGE_REJECTS_PATTERN
from memberkit.files.usage_export import SETTING as USAGE_SETTING
from memberkit.files.usage_export import UsageExport, read_usage_export
from memberkit.runlog import get_logger
from memberkit.services.rewards.lock import rewards_lock
from memberkit.services.rewards.outputs import (
    BACKGROUND_MIN_BYTES,
    CODE_REUSE_PATTERN,
    RewardsFiles,
)
from memberkit.services.rewards.parallel import can_fork, second_half, split_point
from memberkit.services.rewards.report import RewardsCounts, RewardsOutputs, RewardsUpdateResult
from memberkit.services.rewards.rows import (
    ChangedCustomer,
    ChangedCustomerSink,
    CustomerRowProcessor,
    RowOutputs,
)
from memberkit.services.rewards.spool import ChangedMembersSpool

__all__ = [
    "ChangedCustomer",
    "ChangedCustomerSink",
    "ProgressCallback",
    "RewardsUpdateResult",
    "run_rewards_update",
]

SHEET_NAME = "Customers"
#: Called as the customers export is read: (bytes read, file size in bytes).
ProgressCallback = Callable[[int, int], None]
_PROGRESS_EVERY = 16_384

log = get_logger(__name__)


def run_rewards_update(
    settings: Settings,
    *,
    today: dt.date | None = None,
    profile_index: ProfileIndex | None = None,
    on_changed: ChangedCustomerSink | None = None,
    changed_spool: ChangedMembersSpool | None = None,
    progress: ProgressCallback | None = None,
    hold_lock: bool = True,
    background_writers: bool | None = None,
    two_readers: bool | None = None,
    archive: bool = True,
    log_summary: bool = True,
) -> RewardsUpdateResult:
    """Run the daily update with ``settings``; return what it wrote and counted.

    ``today`` defaults to today in ``processing.timezone`` and dates the files.
    With ``klaviyo.enabled`` and no ``profile_index``, the index is read from the
    cache file (a missing or unusable one is an error naming the file).
    ``hold_lock=False`` is for callers that already hold the update's lock.
    ``changed_spool`` receives the changed customers (from both readers).
    ``archive=False`` (a dry run) leaves earlier outputs where they are; the new
    files replace same-named ones. ``log_summary=False`` leaves the summary line
    to the caller (``run_daily_update`` writes one covering the whole run).
    ``background_writers`` writes the XLSX and reviews files in a second process
    (``None``: when the machine has two cores and the export is big);
    ``two_readers`` reads the second half of the export in a second process too
    (``None``: whenever the background writer is used and there is no sink).
    Raise ``MemberkitError`` (exit 1) or ``ConfigError`` (exit 2) when the run
    cannot be done; rejected rows are reported in the result, not raised.
    """
    lock = rewards_lock(settings) if hold_lock else nullcontext()
    with lock:
        run_date = today or dt.datetime.now(settings.processing.zone).date()
        run = _RewardsRun(settings, run_date, profile_index, on_changed, progress)
        run.background = background_writers
        run.two_readers = two_readers
        run.spool = changed_spool
        run.archive = archive
        run.log_summary = log_summary
        return run.run()


class _RewardsRun:
    def __init__(
        self,
        settings: Settings,
        run_date: dt.date,
        profile_index: ProfileIndex | None,
        on_changed: ChangedCustomerSink | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.settings = settings
        self.run_date = run_date
        self.profile_index = profile_index
        self.on_changed = on_changed
        self.progress = progress
        self.counts = RewardsCounts()
        self.timings: dict[str, float] = {}
        self.background: bool | None = None
        self.two_readers: bool | None = None
        self.spool: ChangedMembersSpool | None = None
        self.archive = True
        self.log_summary = True

    def dated(self, pattern: str) -> Path:
        return self.settings.output.directory / pattern.replace("%s", self.run_date.isoformat())

    def patterns(self) -> list[str]:
        out = self.settings.output
        return [
            out.filename_pattern,
            out.csv_filename_pattern,
            out.reviews_filename_pattern,
            REJECTS_PATTERN,
            USAGE_REJECTS_PATTERN,
            CODE_REUSE_PATTERN,
            FAILED_FILE_PATTERN,  # the Klaviyo upload's failed profiles of earlier runs
        ]

    def remove_leftovers(self) -> None:
        """Remove the temporary files a killed run left (in the output and copy folders)."""
        out = self.settings.output
        ours = self.spool.paths() if self.spool is not None else []
        folders: list[tuple[Path, list[str]]] = [(out.directory, self.patterns())]
        for destination, pattern in (
            (out.customers_copy_to, out.filename_pattern),
            (out.max_value_copy_to, out.csv_filename_pattern),
            (out.reviews_copy_to, out.reviews_filename_pattern),
        ):
            if destination is not None:
                if destination.is_dir():
                    folders.append((destination, [pattern]))
                else:
                    folders.append((destination.parent, [destination.name]))
        for folder, patterns in folders:
            for path in remove_leftover_temporaries(folder, patterns, keep=ours):
                log.warning("removed %s, left by an earlier run that was stopped", path)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start

    def run(self) -> RewardsUpdateResult:
        settings = self.settings
        start = time.perf_counter()
        log.info("rewards update for %s starting", self.run_date.isoformat())
        self.remove_leftovers()
        with self.timed("profiles"):
            index, profiles_source = self.load_profile_index()
        with self.timed("usage"):
            usage = self.read_usage()
        zone = settings.processing.zone
        self.counts.usage_codes = len(usage.uses)

        customers = open_csv(
            settings.input.customers_csv,
            setting=CUSTOMERS_SETTING,
            encoding=settings.input.encoding,
        )
        with customers:
            layout = customers_layout(
                customers.header, settings.codes, settings.fields, path=str(customers.path)
            )
            log.info(
                "reading %s (%s, delimiter %r, %d bytes)",
                customers.path,
                customers.encoding,
                customers.delimiter,
                customers.size,
            )
            background = self.background
            if background is None:
                background = (os.cpu_count() or 1) > 1 and customers.size >= BACKGROUND_MIN_BYTES
            files = RewardsFiles.open(
                settings,
                self.run_date,
                customers_header=customers.header,
                usage_header=usage.header,
                background=background,
            )
            try:
                for rejected in usage.rejects:
                    files.usage_rejects.write(rejected.cells, rejected.reason)

                def make_processor(
                    outputs: RowOutputs, counts: RewardsCounts
                ) -> CustomerRowProcessor:
                    return CustomerRowProcessor(
                        layout=layout,
                        uses=usage.uses,
                        today=self.run_date,
                        parser=CodeParser(zone),
                        outputs=outputs,
                        counts=counts,
                        profile_index=index,
                        on_changed=self.on_changed,
                        properties=settings.klaviyo_properties.property_map,
                    )

                if self.spool is not None:
                    files.code_lists.mirror = self.spool.writer
                processor = make_processor(files, self.counts)
                boundary = (
                    split_point(customers, layout.id) if self.use_two_readers(background) else None
                )
                with self.timed("customers"):
                    if boundary is None:
                        self.process_customers(processor, customers)
                    else:
                        log.info(
                            "reading the export with two processes (split at byte %d)", boundary
                        )
                        with second_half(
                            customers,
                            boundary,
                            make_processor,
                            settings.output.directory,
                            self.spool,
                        ) as merge:
                            with open_csv_range(customers, 0, boundary) as first_half:
                                self.process_customers(processor, first_half)
                            merged = merge(files, processor)
                        if not merged:
                            log.info(
                                "an ID or email is in both halves of the export: "
                                "reading the second half again after the first"
                            )
                            with open_csv_range(customers, boundary, customers.size) as rest:
                                self.process_customers(processor, rest)
                reuse = find_code_reuse(processor.code_owners, usage.uses, usage.repeated)
                files.write_code_reuse(
                    self.dated(CODE_REUSE_PATTERN), [reuse_row.cells() for reuse_row in reuse]
                )
                self.counts.code_reuse = len(reuse)
                with self.timed("finish"):
                    files.finish()
                with self.timed("publish"):
                    now = dt.datetime.now(settings.processing.zone)
                    published = files.publish(
                        settings, self.patterns() if self.archive else [], now
                    )
            except BaseException:
                files.discard()
                raise

        self.timings["cpu_main"] = time.process_time()
        for name, seconds in (
            ("cpu_second_reader", files.second_reader_cpu_seconds),
            ("cpu_writer", files.writer_cpu_seconds),
        ):
            if seconds is not None:
                self.timings[name] = seconds
        already, not_member = processor.unmatched_usage()
        counts = self.counts
        counts.unmatched_already_used, counts.unmatched_not_member_code = already, not_member
        counts.usage_codes_matched = len(processor.matched_keys)
        counts.customers_rows_written = files.code_lists.customers_rows
        counts.max_value_rows_written = files.max_value.rows_written
        counts.reviews_rows_written = files.code_lists.reviews_rows
        copy_errors = self.copy_outputs(published)
        self.timings["total"] = time.perf_counter() - start
        result = RewardsUpdateResult(
            run_date=self.run_date,
            outputs=published,
            counts=counts,
            profiles_source=profiles_source,
            timings=self.timings,
        )
        self.log_result(result)
        if copy_errors:
            raise MemberkitError(
                "; ".join(copy_errors),
                hint="the outputs themselves are complete in output.directory; "
                "check the *_copy_to paths and permissions",
            )
        return result

    def load_profile_index(self) -> tuple[ProfileIndex | None, str]:
        klaviyo = self.settings.klaviyo
        if not klaviyo.enabled:
            return None, "off"
        if self.profile_index is not None:
            self.counts.profiles_loaded = len(self.profile_index.profiles)
            return self.profile_index, "given by the caller"
        if klaviyo.fetch_mode == "segment" and not klaviyo.segment_id:
            raise ConfigError(
                "klaviyo.segment_id is required when klaviyo.fetch_mode = 'segment'",
                hint="set klaviyo.segment_id, or klaviyo.fetch_mode = 'all'",
            )
        path = cache_path(klaviyo.cache_dir, klaviyo.fetch_mode, klaviyo.segment_id)
        try:
            index = read_profile_index(path)
        except MemberkitError as exc:
            exc.hint = (
                exc.hint or "fetch the Klaviyo profiles first, or set klaviyo.enabled = false"
            )
            raise
        wanted = (
            klaviyo.fetch_mode,
            klaviyo.segment_id if klaviyo.fetch_mode == "segment" else None,
        )
        if (index.mode, index.segment_id if index.mode == "segment" else None) != wanted:
            raise ProfileCacheError(
                f"Klaviyo profile cache {path} holds mode {index.mode!r} segment "
                f"{index.segment_id!r}, not the configured {wanted[0]!r} {wanted[1]!r}",
                hint="fetch the Klaviyo profiles again",
            )
        now = dt.datetime.now(dt.UTC)
        if not index.is_fresh(klaviyo.cache_ttl, now):
            # Still used: this command works offline; the Klaviyo sync refreshes the cache.
            log.warning(
                "Klaviyo profile cache %s is %.1f hours old (klaviyo.cache_ttl is %d s)",
                path,
                index.age_seconds(now) / 3600,
                klaviyo.cache_ttl,
            )
        self.counts.profiles_loaded = len(index.profiles)
        log.info("loaded %d Klaviyo profiles from %s", len(index.profiles), path)
        return index, f"cache file {path}"

    def read_usage(self) -> UsageExport:
        settings = self.settings
        with open_csv(
            settings.input.discounts_csv, setting=USAGE_SETTING, encoding=settings.input.encoding
        ) as source:
            usage = read_usage_export(source, settings.processing.zone)
        counts = self.counts
        counts.usage_rows, counts.usage_rows_with_codes = usage.rows, usage.rows_with_codes
        counts.usage_rejected = len(usage.rejects)
        return usage

    def use_two_readers(self, background: bool) -> bool:
        """Two reader processes: asked for, or by default with the background writer.

        Never with an ``on_changed`` sink, which must run in the caller's process (a
        ``changed_spool`` is fine: each reader spools its own), nor
        where processes cannot be forked (the child shares this process's state).
        """
        if self.on_changed is not None or not can_fork():
            return False
        return background if self.two_readers is None else self.two_readers

    def process_customers(self, processor: CustomerRowProcessor, customers: CsvSource) -> None:
        progress, total = self.progress, customers.size
        process = processor.process
        if progress is None:
            for number, cells in customers.records():
                process(number, cells)
        else:
            for number, cells in customers.records():
                process(number, cells)
                if number % _PROGRESS_EVERY == 0:
                    progress(customers.bytes_read(), total)
        if progress is not None:
            progress(total, total)

    def copy_outputs(self, published: RewardsOutputs) -> list[str]:
        out = self.settings.output
        errors: list[str] = []
        for source, destination, setting in (
            (published.customers_xlsx, out.customers_copy_to, "output.customers_copy_to"),
            (published.max_value_csv, out.max_value_copy_to, "output.max_value_copy_to"),
            (published.reviews_csv, out.reviews_copy_to, "output.reviews_copy_to"),
        ):
            if destination is None:
                continue
            try:
                published.copies.append(copy_output(source, destination))
            except OSError as exc:
                message = f"{setting} {destination}: cannot copy {source.name}: {exc.strerror}"
                log.error(message)
                errors.append(message)
        return errors

    def log_result(self, result: RewardsUpdateResult) -> None:
        counts, outputs = result.counts, result.outputs
        if not counts.add_up():  # pragma: no cover - a bug, never a user mistake
            log.error("row counts do not add up: %s", counts)
        if outputs.rejects_csv is not None:
            log.warning(
                "%d customer row(s) rejected and left unchanged; listed in %s",
                counts.rejected,
                outputs.rejects_csv,
            )
        if counts.failed:
            log.error(
                "%d customer update(s) could not be written; listed in %s",
                counts.failed,
                outputs.rejects_csv,
            )
        if counts.member_since_unreadable:
            log.warning(
                "%d customer row(s) have a %s that is not a date; "
                "MBR_date_created is left blank for them",
                counts.member_since_unreadable,
                self.settings.fields.member_since_column,
            )
        if outputs.usage_rejects_csv is not None:
            log.warning(
                "%d usage row(s) rejected; listed in %s",
                counts.usage_rejected,
                outputs.usage_rejects_csv,
            )
        for path in outputs.archived:
            log.info("archived %s", path)
        for path in outputs.written() + outputs.copies:
            log.info("wrote %s", path)
        if self.log_summary:
            log.info(result.summary_line())
