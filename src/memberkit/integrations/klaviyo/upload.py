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

import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
    return dumps(
        {
            "type": "profile",
            "attributes": {"email": update.email, "properties": update.properties},
        }
    )


def plan_chunks(
    profiles: Sequence[ProfileUpdate],
    *,
    chunk_size: int,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> tuple[list[Chunk], list[FailedProfile]]:
    """Chunks of at most ``chunk_size`` profiles and ``max_bytes`` bytes a request.

    A single profile too big for any request is returned as failed.
    """
    chunk_size = max(1, min(chunk_size, MAX_PROFILES_PER_JOB))
    overhead = len(_PREFIX) + len(_SUFFIX)
    chunks: list[Chunk] = []
    too_big: list[FailedProfile] = []
    current: list[ProfileUpdate] = []
    parts: list[bytes] = []
    size = overhead

    def close() -> None:
        nonlocal current, parts, size
        if current:
            body = _PREFIX.encode() + b",".join(parts) + _SUFFIX.encode()
            chunks.append(Chunk(len(chunks) + 1, current, body))
        current, parts, size = [], [], overhead

    for update in profiles:
        encoded = profile_json(update).encode("utf-8")
        if overhead + len(encoded) > max_bytes:
            too_big.append(
                FailedProfile(update, f"profile is over Klaviyo's {max_bytes} byte request limit")
            )
            continue
        extra = len(encoded) + (1 if current else 0)
        if len(current) >= chunk_size or size + extra > max_bytes:
            close()
            extra = len(encoded)
        current.append(update)
        parts.append(encoded)
        size += extra
    close()
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.chunk_size = chunk_size
        self.job_timeout = job_timeout_seconds
        self.poll_interval = poll_interval_seconds
        self.max_poll_interval = max(max_poll_interval_seconds, poll_interval_seconds)
        self.submit_workers = max(1, submit_workers)
        self._clock = clock

    def plan(self, profiles: Sequence[ProfileUpdate]) -> tuple[list[Chunk], list[FailedProfile]]:
        return plan_chunks(profiles, chunk_size=self.chunk_size)

    def upload(self, profiles: Sequence[ProfileUpdate], *, dry_run: bool = False) -> UploadReport:
        """Upload ``profiles`` (or, with ``dry_run``, only plan the jobs) and report on each."""
        chunks, too_big = self.plan(profiles)
        report = UploadReport(
            profiles=len(profiles), jobs_planned=len(chunks), dry_run=dry_run, failed=too_big
        )
        if dry_run or not chunks:
            return report
        pending: dict[str, _Job] = {}
        with ThreadPoolExecutor(max_workers=self.submit_workers) as pool:
            futures: dict[Future[str], Chunk] = {
                pool.submit(self._submit, chunk): chunk for chunk in chunks
            }
            waiting = dict(futures)
            while waiting or pending:
                for future in [f for f in waiting if f.done()]:
                    chunk = waiting.pop(future)
                    self._submitted(future, chunk, pending, report, waiting)
                self._poll_due(pending, report)
                if waiting or pending:
                    time.sleep(self._idle_seconds(pending, bool(waiting)))
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
        future: Future[str],
        chunk: Chunk,
        pending: dict[str, _Job],
        report: UploadReport,
        waiting: dict[Future[str], Chunk],
    ) -> None:
        try:
            job_id = future.result()
        except KlaviyoAuthError as exc:
            report.chunks_failed += 1
            self._fail_chunk(chunk, str(exc), report)
            if report.fatal is None:
                report.fatal = exc
                # Nothing more will get through with this key: stop sending.
                for other in list(waiting):
                    if other.cancel():
                        report.chunks_failed += 1
                        self._fail_chunk(waiting.pop(other), f"not sent: {exc}", report)
            return
        except KlaviyoError as exc:
            report.chunks_failed += 1
            self._fail_chunk(chunk, str(exc), report)
            log.error(
                "Klaviyo import job %d of %d (%d profiles) failed: %s",
                chunk.number,
                report.jobs_planned,
                len(chunk.profiles),
                exc,
            )
            return
        report.jobs_submitted += 1
        now = self._clock()
        pending[job_id] = _Job(job_id, chunk, now, now + self.poll_interval, self.poll_interval)
        log.info(
            "Klaviyo import job %s submitted: chunk %d of %d, %d profiles",
            job_id,
            chunk.number,
            report.jobs_planned,
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

    def _poll_due(self, pending: dict[str, _Job], report: UploadReport) -> None:
        now = self._clock()
        for job in sorted(pending.values(), key=lambda j: j.next_poll):
            if job.next_poll > now:
                break
            if report.fatal is not None:
                self._unfinished(job, pending, report, f"not confirmed: {report.fatal}")
                continue
            try:
                body = self.client.get(Endpoint.BULK_IMPORT_GET, f"{JOBS_PATH}/{job.id}")
            except KlaviyoAuthError as exc:
                report.fatal = exc
                self._unfinished(job, pending, report, f"status unknown: {exc}")
                continue
            except KlaviyoError as exc:
                if self._clock() - job.submitted >= self.job_timeout:
                    self._unfinished(job, pending, report, f"status unknown: {exc}")
                else:
                    self._reschedule(job)
                continue
            attributes = (body.get("data") or {}).get("attributes") or {}
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
            now = self._clock()

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
