"""Uploading profile properties with Klaviyo's bulk profile import jobs.

``BulkProfileUploader.upload(profiles)``:

1. splits the profiles into chunks of at most ``chunk_size`` (≤ 10,000) that also
   encode to at most ``MAX_REQUEST_BYTES`` (Klaviyo refuses bodies over 5 MB);
2. submits each chunk as ``POST /api/profile-bulk-import-jobs`` from a few worker
   threads (the rate limiter paces them; retries are the client's);
3. polls ``GET /api/profile-bulk-import-jobs/{id}`` until each job is complete,
   at most ``job_timeout_seconds`` after it was submitted (then it is reported as
   unfinished: it may still complete in Klaviyo, but we cannot confirm it);
4. reads ``/import-errors`` of jobs with failures and maps each error back to
   its profile.

Nothing is lost: every profile ends in the report as uploaded or failed with a
reason (chunk refused, job unfinished, import error). Properties go out with
their types: JSON booleans, integers, money as exact numbers, ``""`` for empty text.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from memberkit.domain.max_value import PropertyValue
from memberkit.integrations.klaviyo.client import KlaviyoClient
from memberkit.integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoError,
    error_detail,
)
from memberkit.integrations.klaviyo.jsonapi import dumps
from memberkit.integrations.klaviyo.ratelimit import Endpoint

log = logging.getLogger("memberkit.klaviyo.upload")

JOBS_PATH = "/api/profile-bulk-import-jobs"
MAX_PROFILES_PER_JOB = 10_000
#: Klaviyo's limit is 5 MB a request; stay under both readings of "MB".
MAX_REQUEST_BYTES = 5_000_000
_PREFIX = '{"data":{"type":"profile-bulk-import-job","attributes":{"profiles":{"data":['
_SUFFIX = "]}}}}"
_PREFIX_B = _PREFIX.encode()
_SUFFIX_B = _SUFFIX.encode()
_encode_str = json.encoder.encode_basestring
_POINTER = re.compile(r"/data/attributes/profiles/data/(\d+)")


@dataclass(frozen=True)
class ProfileUpdate:
    """One profile to upload: ``key`` identifies it to the caller (e.g. the CSV row)."""

    key: int
    email: str
    properties: dict[str, PropertyValue]


@dataclass(frozen=True)
class FailedProfile:
    profile: ProfileUpdate
    reason: str


@dataclass
class Chunk:
    number: int
    profiles: list[ProfileUpdate]
    body: bytes


@dataclass
class UploadReport:
    """What happened to every profile of an upload."""

    profiles: int = 0
    jobs_planned: int = 0
    jobs_submitted: int = 0
    jobs_completed: int = 0
    jobs_unfinished: int = 0
    chunks_failed: int = 0
    dry_run: bool = False
    uploaded: list[ProfileUpdate] = field(default_factory=list)
    failed: list[FailedProfile] = field(default_factory=list)
    # A 401/403: the run stopped sending; every unsent profile is in ``failed``.
    fatal: KlaviyoAuthError | None = None


def profile_json(update: ProfileUpdate) -> str:
    """One profile resource of the import body, as compact JSON text."""
    return (
        '{"type":"profile","attributes":{"email":'
        + _encode_str(update.email)
        + ',"properties":'
        + dumps(update.properties)
        + "}}"
    )


def iter_chunks(
    profiles: Iterable[ProfileUpdate],
    *,
    chunk_size: int,
    too_big: list[FailedProfile],
    max_bytes: int = MAX_REQUEST_BYTES,
) -> Iterator[Chunk]:
    """Chunks of at most ``chunk_size`` profiles and ``max_bytes`` bytes a request, lazily.

    A single profile too big for any request is appended to ``too_big``.
    """
    chunk_size = max(1, min(chunk_size, MAX_PROFILES_PER_JOB))
    overhead = len(_PREFIX) + len(_SUFFIX)
    number = 0
    current: list[ProfileUpdate] = []
    parts: list[bytes] = []
    size = overhead
    for update in profiles:
        encoded = profile_json(update).encode("utf-8")
        if overhead + len(encoded) > max_bytes:
            too_big.append(
                FailedProfile(update, f"profile is over Klaviyo's {max_bytes} byte request limit")
            )
            continue
        extra = len(encoded) + (1 if current else 0)
        if current and (len(current) >= chunk_size or size + extra > max_bytes):
            number += 1
            yield Chunk(number, current, _PREFIX_B + b",".join(parts) + _SUFFIX_B)
            current, parts, size = [], [], overhead
            extra = len(encoded)
        current.append(update)
        parts.append(encoded)
        size += extra
    if current:
        yield Chunk(number + 1, current, _PREFIX_B + b",".join(parts) + _SUFFIX_B)


def plan_chunks(
    profiles: Iterable[ProfileUpdate],
    *,
    chunk_size: int,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> tuple[list[Chunk], list[FailedProfile]]:
    """All chunks at once (see ``iter_chunks``), and the profiles too big to send."""
    too_big: list[FailedProfile] = []
    chunks = list(
        iter_chunks(profiles, chunk_size=chunk_size, too_big=too_big, max_bytes=max_bytes)
    )
    return chunks, too_big


@dataclass
class _Job:
    id: str
    chunk: Chunk
    submitted: float
    next_poll: float
    interval: float


class BulkProfileUploader:
    """Submits bulk import jobs, waits for them, and accounts for every profile."""

    def __init__(
        self,
        client: KlaviyoClient,
        *,
        chunk_size: int = 5000,
        job_timeout_seconds: float = 900.0,
        poll_interval_seconds: float = 2.0,
        max_poll_interval_seconds: float = 15.0,
        submit_workers: int = 4,
        poll_workers: int = 4,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.chunk_size = chunk_size
        self.job_timeout = job_timeout_seconds
        self.poll_interval = poll_interval_seconds
        self.max_poll_interval = max(max_poll_interval_seconds, poll_interval_seconds)
        self.submit_workers = max(1, submit_workers)
        self.poll_workers = max(1, poll_workers)
        # Job deadlines and poll times follow ``clock``; idle waits go through ``sleep``
        # (a fake pair in tests runs a 15-minute job timeout in no real time).
        self._clock = clock
        self._sleep = sleep

    def plan(self, profiles: Sequence[ProfileUpdate]) -> tuple[list[Chunk], list[FailedProfile]]:
        return plan_chunks(profiles, chunk_size=self.chunk_size)

    def upload(self, profiles: Sequence[ProfileUpdate], *, dry_run: bool = False) -> UploadReport:
        """Upload ``profiles`` (or, with ``dry_run``, only plan the jobs) and report on each.

        Chunks are encoded lazily by the submitting threads, so the first job goes
        out at once and encoding overlaps the rate-limit waits.
        """
        report = UploadReport(profiles=len(profiles), dry_run=dry_run)
        if dry_run:
            chunks, report.failed = self.plan(profiles)
            report.jobs_planned = len(chunks)
            return report
        source = iter_chunks(profiles, chunk_size=self.chunk_size, too_big=report.failed)
        source_lock = threading.Lock()
        stop = threading.Event()
        done: queue.SimpleQueue[tuple[Chunk, str | None, KlaviyoError | None]] = queue.SimpleQueue()

        def submitter() -> None:
            while not stop.is_set():
                with source_lock:
                    chunk = next(source, None)
                    if chunk is None:
                        return
                    report.jobs_planned += 1
                try:
                    done.put((chunk, self._submit(chunk), None))
                except KlaviyoError as exc:
                    if isinstance(exc, KlaviyoAuthError):
                        stop.set()  # nothing more will get through with this key
                    done.put((chunk, None, exc))

        threads = [
            threading.Thread(target=submitter, name=f"klaviyo-upload-{i}", daemon=True)
            for i in range(self.submit_workers)
        ]
        for thread in threads:
            thread.start()
        pending: dict[str, _Job] = {}
        with ThreadPoolExecutor(self.poll_workers, thread_name_prefix="klaviyo-poll") as pool:
            while True:
                submitting = any(t.is_alive() for t in threads)
                while not done.empty():
                    self._submitted(*done.get(), pending, report)
                if not submitting and done.empty() and not pending:
                    break
                self._poll_due(pending, report, pool)
                self._sleep(self._idle_seconds(pending, submitting))
        if report.fatal is not None:
            for chunk in source:  # never sent: listed, nothing lost
                report.jobs_planned += 1
                report.chunks_failed += 1
                self._fail_chunk(chunk, f"not sent: {report.fatal}", report)
        return report

    # -- submitting ------------------------------------------------------------

    def _submit(self, chunk: Chunk) -> str:
        body = self.client.post(Endpoint.BULK_IMPORT_CREATE, JOBS_PATH, chunk.body)
        data = body.get("data")
        job_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(job_id, str):
            raise KlaviyoError("Klaviyo accepted a bulk import job but sent no job id")
        return job_id

    def _submitted(
        self,
        chunk: Chunk,
        job_id: str | None,
        error: KlaviyoError | None,
        pending: dict[str, _Job],
        report: UploadReport,
    ) -> None:
        if error is not None or job_id is None:
            report.chunks_failed += 1
            reason = str(error) if error else "no job id"
            self._fail_chunk(chunk, reason, report)
            if isinstance(error, KlaviyoAuthError) and report.fatal is None:
                report.fatal = error
            log.error(
                "Klaviyo import chunk %d (%d profiles) failed: %s",
                chunk.number,
                len(chunk.profiles),
                reason,
            )
            return
        report.jobs_submitted += 1
        now = self._clock()
        pending[job_id] = _Job(job_id, chunk, now, now + self.poll_interval, self.poll_interval)
        log.info(
            "Klaviyo import job %s submitted: chunk %d, %d profiles",
            job_id,
            chunk.number,
            len(chunk.profiles),
        )

    @staticmethod
    def _fail_chunk(chunk: Chunk, reason: str, report: UploadReport) -> None:
        report.failed.extend(FailedProfile(p, reason) for p in chunk.profiles)

    # -- polling ---------------------------------------------------------------

    def _idle_seconds(self, pending: dict[str, _Job], submitting: bool) -> float:
        if not pending:
            return 0.02
        soonest = min(job.next_poll for job in pending.values()) - self._clock()
        return max(0.0, min(soonest, 0.02 if submitting else 1.0))

    def _fetch_status(self, job: _Job) -> dict[str, Any] | KlaviyoError:
        try:
            return self.client.get(Endpoint.BULK_IMPORT_GET, f"{JOBS_PATH}/{job.id}")
        except KlaviyoError as exc:
            return exc

    def _poll_due(
        self, pending: dict[str, _Job], report: UploadReport, pool: ThreadPoolExecutor
    ) -> None:
        """Poll every job that is due, a few at a time in parallel (the limiter paces them)."""
        now = self._clock()
        due = sorted(
            (job for job in pending.values() if job.next_poll <= now), key=lambda j: j.next_poll
        )
        if report.fatal is not None:
            for job in due:
                self._unfinished(job, pending, report, f"not confirmed: {report.fatal}")
            return
        for job, outcome in zip(due, pool.map(self._fetch_status, due), strict=True):
            if isinstance(outcome, KlaviyoAuthError):
                report.fatal = report.fatal or outcome
                self._unfinished(job, pending, report, f"status unknown: {outcome}")
                continue
            if isinstance(outcome, KlaviyoError):
                if self._clock() - job.submitted >= self.job_timeout:
                    self._unfinished(job, pending, report, f"status unknown: {outcome}")
                else:
                    self._reschedule(job)
                continue
            attributes = (outcome.get("data") or {}).get("attributes") or {}
            status = attributes.get("status")
            if status == "complete":
                self._completed(job, attributes, report)
                del pending[job.id]
            elif status == "cancelled":
                self._unfinished(job, pending, report, f"import job {job.id} was cancelled")
            elif self._clock() - job.submitted >= self.job_timeout:
                self._unfinished(
                    job,
                    pending,
                    report,
                    f"import job {job.id} still {status} after {self.job_timeout:g} s "
                    "(it may complete later in Klaviyo; re-upload this file to be sure)",
                )
            else:
                self._reschedule(job)

    def _reschedule(self, job: _Job) -> None:
        job.interval = min(job.interval * 1.5, self.max_poll_interval)
        deadline = job.submitted + self.job_timeout
        job.next_poll = min(self._clock() + job.interval, deadline)

    def _unfinished(
        self, job: _Job, pending: dict[str, _Job], report: UploadReport, reason: str
    ) -> None:
        report.jobs_unfinished += 1
        log.error("Klaviyo import job %s: %s", job.id, reason)
        self._fail_chunk(job.chunk, reason, report)
        pending.pop(job.id, None)

    def _completed(self, job: _Job, attributes: dict[str, Any], report: UploadReport) -> None:
        report.jobs_completed += 1
        failed_count = attributes.get("failed_count") or 0
        failures: dict[int, str] = {}
        if failed_count:
            try:
                failures = self._import_errors(job)
            except KlaviyoError as exc:
                why = f"job {job.id} had {failed_count} failures that could not be read: {exc}"
                log.error("Klaviyo import job %s: %s", job.id, why)
                self._fail_chunk(job.chunk, why, report)
                return
            if len(failures) < failed_count:
                log.warning(
                    "Klaviyo import job %s reported %s failures but listed %d",
                    job.id,
                    failed_count,
                    len(failures),
                )
        for i, profile in enumerate(job.chunk.profiles):
            failure = failures.get(i)
            if failure is None:
                report.uploaded.append(profile)
            else:
                log.warning("Klaviyo did not import %s: %s", profile.email, failure)
                report.failed.append(FailedProfile(profile, failure))
        log.info(
            "Klaviyo import job %s complete: %d imported, %d failed",
            job.id,
            len(job.chunk.profiles) - len(failures),
            len(failures),
        )

    def _import_errors(self, job: _Job) -> dict[int, str]:
        """Position in the chunk -> Klaviyo's reason, for each failed profile."""
        by_email: dict[str, int] = {}
        for i, profile in enumerate(job.chunk.profiles):
            by_email.setdefault(profile.email.strip().lower(), i)
        failures: dict[int, str] = {}
        url = f"{JOBS_PATH}/{job.id}/import-errors"
        params: dict[str, str] | None = {"page[size]": "100"}
        while url:
            body = self.client.get(Endpoint.BULK_IMPORT_GET, url, params=params)
            params = None
            for item in body.get("data") or []:
                attributes = item.get("attributes") if isinstance(item, dict) else None
                if not isinstance(attributes, dict):
                    continue
                reason = error_detail({"errors": [attributes]}) or "rejected by Klaviyo"
                position = _position(attributes, by_email, len(job.chunk.profiles))
                if position is None:
                    log.warning("Klaviyo import job %s: unmatched import error: %s", job.id, reason)
                else:
                    failures[position] = f"Klaviyo import error: {reason}"
            links = body.get("links")
            url = str(links.get("next") or "") if isinstance(links, dict) else ""
        return failures


def _position(attributes: dict[str, Any], by_email: dict[str, int], size: int) -> int | None:
    payload = attributes.get("original_payload")
    if isinstance(payload, dict) and isinstance(payload.get("email"), str):
        found = by_email.get(payload["email"].strip().lower())
        if found is not None:
            return found
    source = attributes.get("source")
    pointer = source.get("pointer") if isinstance(source, dict) else None
    match = _POINTER.match(pointer) if isinstance(pointer, str) else None
    if match and int(match.group(1)) < size:
        return int(match.group(1))
    return None
