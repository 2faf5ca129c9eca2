"""The local Klaviyo's endpoints, as mixins of ``FakeKlaviyo`` (see ``klaviyo_server.py``).

- ``ProfilesApi``: ``GET /api/profiles`` and ``GET /api/segments/{id}/profiles`` with
  ``page[size]`` (1..100), cursors and absolute ``links.next``, ``fields[profile]``,
  ``filter`` and ``sort``;
- ``ImportJobsApi``: ``POST /api/profile-bulk-import-jobs`` (413 over 10,000 profiles),
  job status (queued -> processing -> complete, on the server's clock; ``advance()``
  applies every job whose time has come, and runs before every request) and
  ``/import-errors`` (``page[size]`` 1..100 and its cursor validated);
- ``EventsApi``: ``POST /api/events`` and ``POST /api/event-bulk-create-jobs`` (at most
  1,000 events), deduplicated by ``unique_id``.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlencode

from tests.servers.klaviyo_model import (
    EMAIL_RE,
    MAX_EVENTS_PER_JOB,
    MAX_PROFILES_PER_JOB,
    ApiError,
    ImportJob,
    Profile,
    invalid,
    iso,
    matches,
    page_size,
    parse_iso,
    plain,
    require,
)


def dig(doc: Any, *keys: str) -> Any:
    """``doc[k1][k2]...``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


class _State:
    """What the endpoint mixins use of ``FakeKlaviyo`` (for readers and type checkers)."""

    url: str
    lock: threading.RLock
    profiles: dict[str, Profile]
    profile_keys: list[tuple[float, str]]
    segments: dict[str, list[tuple[float, str]]]
    jobs: dict[str, ImportJob]
    events: dict[tuple[str, str, str], dict[str, Any]]
    event_jobs: list[str]
    job_queued_seconds: float
    job_processing_seconds: float
    pending_jobs: list[ImportJob]
    clock: Callable[[], float]

    def wall(self) -> float:
        raise NotImplementedError

    def _lookup_email(self, email: str) -> Profile | None:
        raise NotImplementedError

    def add_profile(
        self,
        email: str,
        properties: dict[str, Any] | None = None,
        *,
        created: float | None = None,
        segments: Iterable[str] = (),
        joined: float | None = None,
    ) -> str:
        raise NotImplementedError

    def _take_never_complete(self, body: bytes) -> bool:
        raise NotImplementedError

    def _parse_body(self, body: bytes) -> Any:
        try:
            return json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "parse_error", "Malformed request.", "JSON parse error.") from None


class ProfilesApi(_State):
    _FILTER_FIELDS: ClassVar[dict[str, dict[str, tuple[str, ...]]]] = {
        "profiles:list": {
            "created": ("greater-than", "greater-or-equal", "less-than", "less-or-equal"),
            "updated": ("greater-than", "greater-or-equal", "less-than", "less-or-equal"),
            "email": ("equals",),
            "id": ("equals",),
        },
        "segments:profiles": {
            "joined_group_at": ("greater-than", "greater-or-equal", "less-than", "less-or-equal"),
            "email": ("equals",),
        },
    }
    _PROFILE_FIELDS = ("email", "created", "updated", "properties")

    def _parse_filter(self, route: str, text: str) -> list[tuple[str, str, Any]]:
        text = text.strip()
        if text.startswith("and(") and text.endswith(")"):
            text = text[4:-1]
        terms = []
        for match in re.finditer(r"([a-z-]+)\(([a-z_]+),([^()]*)\)", text):
            op, name, raw = match.groups()
            allowed = self._FILTER_FIELDS[route].get(name)
            if allowed is None:
                raise invalid(
                    f"'{name}' is not a valid field for the resource.", parameter="filter"
                )
            if op not in allowed:
                raise invalid(f"'{op}' is not a valid operator for '{name}'.", parameter="filter")
            raw = raw.strip()
            if name in ("email", "id"):
                terms.append((op, name, raw.strip("\"'")))
            else:
                try:
                    terms.append((op, name, parse_iso(raw)))
                except ValueError:
                    raise invalid(
                        f"Invalid datetime {raw!r} for '{name}'.", parameter="filter"
                    ) from None
        leftover = re.sub(r"([a-z-]+)\(([a-z_]+),([^()]*)\)", "", text).replace(",", "").strip()
        if not terms or leftover:
            raise invalid(f"Invalid filter {text!r}.", parameter="filter")
        return terms

    def _list_profiles(
        self, route: str, args: list[str], query: list[tuple[str, str]], path: str
    ) -> dict[str, Any]:
        params = dict(query)
        known = {"page[size]", "page[cursor]", "fields[profile]", "filter", "sort"}
        for name in params:
            if name not in known:
                raise invalid(f"'{name}' is not a valid query parameter.", parameter=name)
        size = page_size(params)
        fields = self._PROFILE_FIELDS
        if "fields[profile]" in params:
            fields = tuple(f for f in params["fields[profile]"].split(",") if f)
            allowed = self._PROFILE_FIELDS + (
                ("joined_group_at",) if route == "segments:profiles" else ()
            )
            for f in fields:
                if f not in allowed:
                    raise invalid(
                        f"'{f}' is not a valid profile field.", parameter="fields[profile]"
                    )
        terms = self._parse_filter(route, params["filter"]) if "filter" in params else []
        time_field = "joined_group_at" if route == "segments:profiles" else "created"
        sort = params.get("sort", time_field)
        if sort not in (time_field, f"-{time_field}") and not (
            route == "profiles:list" and sort in ("id", "-id")
        ):
            raise invalid(f"'{sort}' is not a valid sort field.", parameter="sort")
        descending = sort.startswith("-")
        cursor = self._decode_cursor(params.get("page[cursor]"))

        with self.lock:
            if route == "segments:profiles":
                keys = self.segments.get(args[0])
                if keys is None:
                    raise ApiError(
                        404, "not_found", "Not found.", f"Segment {args[0]!r} does not exist."
                    )
            else:
                keys = self.profile_keys
            lo, hi = 0, len(keys)
            others = []
            for op, name, value in terms:
                if name == time_field:
                    if op == "greater-than":
                        lo = max(lo, bisect.bisect_right(keys, (value, "\uffff")))
                    elif op == "greater-or-equal":
                        lo = max(lo, bisect.bisect_left(keys, (value, "")))
                    elif op == "less-than":
                        hi = min(hi, bisect.bisect_left(keys, (value, "")))
                    else:
                        hi = min(hi, bisect.bisect_right(keys, (value, "\uffff")))
                else:
                    others.append((op, name, value))
            if cursor is not None:
                position = (cursor[0], cursor[1])
                if descending:
                    hi = min(hi, bisect.bisect_left(keys, position))
                else:
                    lo = max(lo, bisect.bisect_right(keys, position))
            page: list[tuple[tuple[float, str], Profile]] = []
            more = False
            indexes: Iterable[int] = range(hi - 1, lo - 1, -1) if descending else range(lo, hi)
            for i in indexes:
                key = keys[i]
                profile = self.profiles.get(key[1])
                if profile is None or not matches(profile, others):
                    continue
                if len(page) == size:
                    more = True
                    break
                page.append((key, profile))
            data = [self._profile_resource(p, fields, key, route) for key, p in page]
        base = f"{self.url}{path}"
        links: dict[str, Any] = {"self": base + ("?" + urlencode(query) if query else "")}
        if more:
            last = page[-1][0]
            next_query = [(k, v) for k, v in query if k != "page[cursor]"]
            next_query.append(("page[cursor]", self._encode_cursor(last)))
            links["next"] = base + "?" + urlencode(next_query)
        else:
            links["next"] = None
        links["prev"] = None
        return {"data": data, "links": links}

    def _profile_resource(
        self, p: Profile, fields: tuple[str, ...], key: tuple[float, str], route: str
    ) -> dict[str, Any]:
        full: dict[str, Any] = {
            "email": p.email,
            "created": iso(p.created),
            "updated": iso(p.updated),
            "properties": p.properties,
        }
        attributes = {f: full[f] for f in fields if f in full}
        if route == "segments:profiles" and "joined_group_at" in fields:
            attributes["joined_group_at"] = iso(key[0])
        return {
            "type": "profile",
            "id": p.id,
            "attributes": attributes,
            "links": {"self": f"{self.url}/api/profiles/{p.id}/"},
        }

    @staticmethod
    def _encode_cursor(key: tuple[float, str]) -> str:
        raw = json.dumps([repr(key[0]), key[1]]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(text: str | None) -> tuple[float, str] | None:
        if text is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            stamp, pid = json.loads(raw)
            return float(stamp), str(pid)
        except (ValueError, TypeError):
            raise invalid("Invalid page cursor.", parameter="page[cursor]") from None


class ImportJobsApi(_State):
    def _create_import_job(self, body: bytes) -> dict[str, Any]:
        doc = self._parse_body(body)
        data = require(doc, "data", dict, "/data")
        if data.get("type") != "profile-bulk-import-job":
            raise ApiError(
                409,
                "conflict",
                "Conflict.",
                f"The type {data.get('type')!r} does not match the endpoint "
                "(expected 'profile-bulk-import-job').",
                pointer="/data/type",
            )
        attributes = require(data, "attributes", dict, "/data/attributes")
        profiles_doc = require(attributes, "profiles", dict, "/data/attributes/profiles")
        items = require(profiles_doc, "data", list, "/data/attributes/profiles/data")
        if not items:
            raise invalid("At least one profile is required.", pointer="/data/attributes/profiles")
        if len(items) > MAX_PROFILES_PER_JOB:
            raise ApiError(
                413,
                "request_too_large",
                "Request too large.",
                f"A job may contain at most {MAX_PROFILES_PER_JOB} profiles, got {len(items)}.",
                pointer="/data/attributes/profiles/data",
            )
        profiles = []
        for i, item in enumerate(items):
            pointer = f"/data/attributes/profiles/data/{i}"
            if not isinstance(item, dict) or item.get("type") != "profile":
                raise invalid("Each profile must have type 'profile'.", pointer=f"{pointer}/type")
            attrs = require(item, "attributes", dict, f"{pointer}/attributes")
            if not any(attrs.get(k) for k in ("email", "phone_number", "external_id")):
                raise invalid(
                    "One of email, phone_number or external_id is required.",
                    pointer=f"{pointer}/attributes",
                )
            props = attrs.get("properties", {})
            if not isinstance(props, dict):
                raise invalid(
                    "properties must be an object.", pointer=f"{pointer}/attributes/properties"
                )
            profiles.append(attrs)
        with self.lock:
            job = ImportJob(
                id=uuid.uuid4().hex,
                created=self.clock(),
                created_wall=self.wall(),
                profiles=profiles,
                never_complete=self._take_never_complete(body),
            )
            self.jobs[job.id] = job
            self.pending_jobs.append(job)
        return {"data": self._job_resource(job)}

    def advance(self) -> None:
        """Apply every job whose processing time is over, as Klaviyo does unpolled."""
        with self.lock:
            due = [job for job in self.pending_jobs if self._job_status(job) == "complete"]
            for job in due:
                self._apply_job(job)
            if due:
                self.pending_jobs[:] = [job for job in self.pending_jobs if not job.applied]

    def _job(self, job_id: str) -> ImportJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", "Not found.", f"Job {job_id!r} does not exist.")
        return job

    def _job_status(self, job: ImportJob) -> str:
        """The job's status by the server's clock alone (``advance`` applies it)."""
        age = self.clock() - job.created
        if age < self.job_queued_seconds:
            return "queued"
        if job.never_complete or age < self.job_queued_seconds + self.job_processing_seconds:
            return "processing"
        return "complete"

    def _apply_job(self, job: ImportJob) -> None:
        # The moment it completed, whenever it is looked at.
        now = job.created_wall + self.job_queued_seconds + self.job_processing_seconds
        for i, attrs in enumerate(job.profiles):
            email = attrs.get("email")
            if email is not None and (not isinstance(email, str) or not EMAIL_RE.match(email)):
                job.errors.append(
                    {
                        "type": "import-error",
                        "id": uuid.uuid4().hex,
                        "attributes": {
                            "code": "invalid",
                            "title": "Invalid input.",
                            "detail": f"Invalid email address {email!r}.",
                            "source": {"pointer": f"/data/attributes/profiles/data/{i}/email"},
                            "original_payload": plain(attrs),
                        },
                    }
                )
                continue
            profile = self._lookup_email(email) if isinstance(email, str) else None
            props = plain(attrs.get("properties") or {})
            if profile is None:
                pid = self.add_profile(str(email or attrs.get("external_id")), props, created=now)
                self.profiles[pid].updated = now
            else:
                merged = dict(profile.properties)
                # The bulk API ignores null values; everything else replaces.
                merged.update({k: v for k, v in props.items() if v is not None})
                profile.properties = merged
                profile.updated = now
        job.applied = True
        job.completed_at = now

    def _job_resource(self, job: ImportJob) -> dict[str, Any]:
        self.advance()
        status = self._job_status(job)
        total = len(job.profiles)
        failed = len(job.errors) if status == "complete" else 0
        return {
            "type": "profile-bulk-import-job",
            "id": job.id,
            "attributes": {
                "status": status,
                "created_at": iso(job.created_wall),
                "total_count": total,
                "completed_count": total - failed if status == "complete" else 0,
                "failed_count": failed,
                "completed_at": iso(job.completed_at) if job.completed_at else None,
                "expires_at": None,
                "started_at": None,
            },
            "links": {"self": f"{self.url}/api/profile-bulk-import-jobs/{job.id}/"},
        }

    def _import_errors(
        self, job_id: str, query: list[tuple[str, str]], path: str
    ) -> dict[str, Any]:
        params = dict(query)
        for name in params:
            if name not in ("page[size]", "page[cursor]"):
                raise invalid(f"'{name}' is not a valid query parameter.", parameter=name)
        size = page_size(params)
        cursor = params.get("page[cursor]", "0")
        if not re.fullmatch(r"[0-9]{1,9}", cursor):
            raise invalid("Invalid page cursor.", parameter="page[cursor]")
        start = int(cursor)
        job = self._job(job_id)
        self.advance()
        chunk = job.errors[start : start + size]
        base = f"{self.url}{path}"
        nxt = None
        if start + size < len(job.errors):
            q = [(k, v) for k, v in query if k != "page[cursor]"] + [
                ("page[cursor]", str(start + size))
            ]
            nxt = base + "?" + urlencode(q)
        return {"data": chunk, "links": {"self": base, "next": nxt, "prev": None}}


class EventsApi(_State):
    def _event_from(self, attrs: Any, pointer: str, profile: Any = None) -> None:
        if not isinstance(attrs, dict):
            raise invalid("attributes must be an object.", pointer=pointer)
        props = attrs.get("properties")
        if not isinstance(props, dict):
            raise invalid("properties is required.", pointer=f"{pointer}/properties")
        metric = dig(attrs, "metric", "data", "attributes", "name")
        if not isinstance(metric, str) or not metric:
            raise invalid("A metric name is required.", pointer=f"{pointer}/metric")
        if profile is None:
            profile = dig(attrs, "profile", "data", "attributes")
        if not isinstance(profile, dict) or not any(
            profile.get(k) for k in ("email", "external_id", "phone_number", "id")
        ):
            raise invalid("A profile identifier is required.", pointer=f"{pointer}/profile")
        who = str(profile.get("email") or profile.get("external_id") or profile.get("id"))
        unique = str(attrs.get("unique_id") or uuid.uuid4().hex)
        key = (metric, who.lower(), unique)
        with self.lock:
            # unique_id makes a retry safe: the same event is never counted twice.
            self.events.setdefault(key, {**plain(attrs), "metric": metric, "profile": profile})

    def _create_event(self, body: bytes) -> None:
        doc = self._parse_body(body)
        data = require(doc, "data", dict, "/data")
        if data.get("type") != "event":
            raise invalid("type must be 'event'.", pointer="/data/type")
        self._event_from(data.get("attributes"), "/data/attributes")

    def _create_event_job(self, body: bytes) -> dict[str, Any]:
        doc = self._parse_body(body)
        data = require(doc, "data", dict, "/data")
        if data.get("type") != "event-bulk-create-job":
            raise invalid("type must be 'event-bulk-create-job'.", pointer="/data/type")
        attrs = require(data, "attributes", dict, "/data/attributes")
        groups = require(
            require(attrs, "events-bulk-create", dict, "/data/attributes/events-bulk-create"),
            "data",
            list,
            "/data/attributes/events-bulk-create/data",
        )
        for gi, group in enumerate(groups):
            events = dig(group, "attributes", "events", "data")
            if not isinstance(events, list):
                raise invalid(
                    "events is required and must be a list.",
                    pointer=f"/data/attributes/events-bulk-create/data/{gi}/attributes/events/data",
                )
        total = sum(len(dig(g, "attributes", "events", "data")) for g in groups)
        if total > MAX_EVENTS_PER_JOB:
            raise ApiError(
                413,
                "request_too_large",
                "Request too large.",
                f"A job may contain at most {MAX_EVENTS_PER_JOB} events, got {total}.",
            )
        for gi, group in enumerate(groups):
            pointer = f"/data/attributes/events-bulk-create/data/{gi}"
            gattrs = require(group, "attributes", dict, f"{pointer}/attributes")
            profile = dig(gattrs, "profile", "data", "attributes")
            events = dig(gattrs, "events", "data")
            for ei, event in enumerate(events):
                self._event_from(
                    dig(event, "attributes"),
                    f"{pointer}/attributes/events/data/{ei}/attributes",
                    profile,
                )
        job_id = uuid.uuid4().hex
        self.event_jobs.append(job_id)
        return {
            "data": {
                "type": "event-bulk-create-job",
                "id": job_id,
                "attributes": {"status": "queued", "total_count": total},
            }
        }
