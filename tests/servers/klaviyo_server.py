"""A faithful local Klaviyo API server for tests and benchmarks (real HTTP on 127.0.0.1).

It implements the parts of Klaviyo's API memberkit uses, as Klaviyo documents them:

- auth: ``Authorization: Klaviyo-API-Key <key>`` else 401; keys carry scopes, a
  missing scope is 403; a missing ``revision`` header is 400;
- ``GET /api/profiles`` and ``GET /api/segments/{id}/profiles``: ``page[size]``
  (1..100), opaque cursors with absolute ``links.next``, ``fields[profile]``
  sparse fieldsets, ``filter`` (``greater-than``/``greater-or-equal``/``less-than``/
  ``less-or-equal`` on ``joined_group_at`` or ``created``/``updated``, ``equals`` on
  ``email``; combined with commas or ``and(...)``), ``sort`` on the time field;
- ``POST /api/profile-bulk-import-jobs`` (413 over 5 MB or 10,000 profiles), jobs that
  go queued -> processing -> complete, ``GET .../{id}`` and ``.../{id}/import-errors``
  (invalid emails fail, with the original payload);
- ``POST /api/events`` and ``POST /api/event-bulk-create-jobs`` (at most 1,000 events,
  5 MB), deduplicated by ``unique_id``;
- JSON:API validation with Klaviyo-style error bodies
  ``{"errors":[{"id","status","code","title","detail","source"}]}``;
- per-endpoint rate limits (burst per second, steady per minute, sliding windows)
  answered with 429 and an integer ``Retry-After``;
- latency injected on every request, and scripted faults: status codes (429 storms,
  500s), slow responses, dropped connections, and jobs that never complete.

It holds a million profiles in a few hundred MB (slotted records, sorted key lists).
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import datetime as dt
import itertools
import json
import math
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_PROFILES_PER_JOB = 10_000
MAX_EVENTS_PER_JOB = 1_000
MAX_PAGE_SIZE = 100
ALL_SCOPES = frozenset(
    {"profiles:read", "profiles:write", "segments:read", "lists:write", "events:write"}
)

# Route name -> (burst per second, steady per minute): Klaviyo's tiers.
REAL_RATE_LIMITS: dict[str, tuple[int, int]] = {
    "profiles:list": (75, 700),
    "segments:profiles": (75, 700),
    "profile-bulk-import-jobs:create": (10, 150),
    "profile-bulk-import-jobs:get": (10, 150),
    "events:create": (350, 3500),
    "event-bulk-create-jobs:create": (10, 150),
}
ROUTE_SCOPES: dict[str, tuple[str, ...]] = {
    "profiles:list": ("profiles:read",),
    "segments:profiles": ("segments:read", "profiles:read"),
    "profile-bulk-import-jobs:create": ("profiles:write",),
    "profile-bulk-import-jobs:get": ("profiles:read",),
    "events:create": ("events:write",),
    "event-bulk-create-jobs:create": ("events:write",),
}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def parse_iso(text: str) -> float:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


class Profile:
    __slots__ = ("created", "email", "id", "properties", "updated")

    def __init__(
        self, id: str, email: str, created: float, properties: dict[str, Any] | None
    ) -> None:
        self.id = id
        self.email = email
        self.created = created
        self.updated = created
        self.properties = properties if properties is not None else {}


@dataclass
class Fault:
    """A scripted fault: the next ``times`` requests to ``route`` (None = any) misbehave.

    kind: ``status`` (answer ``status``; a 429 carries ``retry_after``), ``drop``
    (close the connection without answering), ``slow`` (sleep ``delay`` seconds first),
    ``never_complete`` (a created bulk import job stays processing forever).
    """

    kind: str
    route: str | None = None
    times: int = 1
    status: int = 500
    retry_after: int = 1
    delay: float = 0.0
    # Only requests whose body contains these bytes (e.g. one chunk's first email).
    match: bytes | None = None


@dataclass
class ImportJob:
    id: str
    created: float
    profiles: list[dict[str, Any]]
    never_complete: bool = False
    applied: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)
    completed_at: float | None = None


@dataclass
class RequestRecord:
    at: float
    method: str
    path: str
    route: str
    status: int
    body: bytes = b""


class _Window:
    """Server-side sliding windows for one route."""

    def __init__(self, burst: int, steady: int, scale: float = 1.0) -> None:
        self.burst = burst
        self.steady = steady
        self.second = 1.0 * scale
        self.minute = 60.0 * scale
        self.sent: deque[float] = deque()

    def admit(self, now: float) -> float:
        """0 when admitted (and counted), else the seconds until a slot frees."""
        while self.sent and self.sent[0] <= now - self.minute:
            self.sent.popleft()
        wait = 0.0
        if len(self.sent) >= self.steady:
            wait = max(wait, self.sent[-self.steady] + self.minute - now)
        if len(self.sent) >= self.burst:
            wait = max(wait, self.sent[-self.burst] + self.second - now)
        if wait > 0:
            return wait
        self.sent.append(now)
        return 0.0


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.source: dict[str, str] = {}
        if pointer is not None:
            self.source["pointer"] = pointer
        if parameter is not None:
            self.source["parameter"] = parameter
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "errors": [
                {
                    "id": str(uuid.uuid4()),
                    "status": self.status,
                    "code": self.code,
                    "title": self.title,
                    "detail": self.detail,
                    "source": self.source,
                }
            ]
        }


def invalid(detail: str, *, pointer: str | None = None, parameter: str | None = None) -> ApiError:
    return ApiError(400, "invalid", "Invalid input.", detail, pointer=pointer, parameter=parameter)


class _Drop(Exception):
    """Close the connection without answering."""


class FakeKlaviyo:
    """The server's state and behaviour; ``start()`` serves it on 127.0.0.1."""

    def __init__(
        self,
        *,
        api_keys: dict[str, Iterable[str]] | None = None,
        rate_limits: dict[str, tuple[int, int]] | None = None,
        latency: float = 0.0,
        job_queued_seconds: float = 0.05,
        job_processing_seconds: float = 0.1,
        revision: str = "2026-07-15",
        window_scale: float = 1.0,
    ) -> None:
        self.api_keys = {
            k: frozenset(v) for k, v in (api_keys or {"pk_test_key": ALL_SCOPES}).items()
        }
        self.rate_limits = dict(REAL_RATE_LIMITS if rate_limits is None else rate_limits)
        self.latency = latency
        self.job_queued_seconds = job_queued_seconds
        self.job_processing_seconds = job_processing_seconds
        self.revision = revision
        # Shrinks the rate-limit windows (0.01: a "second" of 10 ms, a "minute" of 0.6 s).
        self.window_scale = window_scale
        self.lock = threading.RLock()
        self.profiles: dict[str, Profile] = {}
        self.by_email: dict[str, str] = {}
        # (created, id) in order: the profiles listing order.
        self.profile_keys: list[tuple[float, str]] = []
        # segment id -> sorted (joined_group_at, profile id)
        self.segments: dict[str, list[tuple[float, str]]] = {}
        self.jobs: dict[str, ImportJob] = {}
        self.events: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.event_jobs: list[str] = []
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.record_bodies = False
        self._windows: dict[str, _Window] = {}
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ----- data ---------------------------------------------------------------

    def _new_id(self) -> str:
        return f"01K{next(self._ids):023d}"

    def add_profile(
        self,
        email: str,
        properties: dict[str, Any] | None = None,
        *,
        created: float | None = None,
        segments: Iterable[str] = (),
        joined: float | None = None,
    ) -> str:
        """Add a profile (created now unless given) and optionally put it in segments."""
        with self.lock:
            created = time.time() if created is None else created
            pid = self._new_id()
            self.profiles[pid] = Profile(pid, email, created, properties)
            self.by_email[email.strip().lower()] = pid
            bisect.insort(self.profile_keys, (created, pid))
            for segment in segments:
                self.add_to_segment(segment, pid, joined if joined is not None else created)
            return pid

    def add_to_segment(self, segment_id: str, profile_id: str, joined: float) -> None:
        with self.lock:
            bisect.insort(self.segments.setdefault(segment_id, []), (joined, profile_id))

    def remove_from_segment(self, segment_id: str, profile_id: str) -> None:
        with self.lock:
            members = self.segments[segment_id]
            members[:] = [m for m in members if m[1] != profile_id]

    def add_many(
        self,
        count: int,
        *,
        segment_id: str | None = None,
        start: float = 1_600_000_000.0,
        spacing: float = 1.0,
        properties: dict[str, Any] | None = None,
        domain: str = "example.com",
    ) -> None:
        """Bulk-load ``count`` profiles created ``spacing`` seconds apart (fast, for a million)."""
        with self.lock:
            members = self.segments.setdefault(segment_id, []) if segment_id else None
            base = len(self.profiles)
            for n in range(count):
                created = start + n * spacing
                pid = self._new_id()
                email = f"member{base + n}@{domain}"
                self.profiles[pid] = Profile(pid, email, created, properties)
                self.by_email[email] = pid
                self.profile_keys.append((created, pid))
                if members is not None:
                    members.append((created, pid))
            if members is not None:
                members.sort()

    def profile_by_email(self, email: str) -> Profile | None:
        pid = self.by_email.get(email.strip().lower())
        return self.profiles.get(pid) if pid else None

    def add_fault(self, kind: str, route: str | None = None, **kwargs: Any) -> Fault:
        fault = Fault(kind, route, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def requests_to(self, route: str, status: int | None = None) -> list[RequestRecord]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.route == route and (status is None or r.status == status)
            ]

    # ----- serving ------------------------------------------------------------

    def start(self) -> FakeKlaviyo:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.request_queue_size = 128
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeKlaviyo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- request handling ---------------------------------------------------

    def route_of(self, method: str, path: str) -> tuple[str, list[str]]:
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["api", "profiles"]:
            return "profiles:list", []
        if (
            method == "GET"
            and len(parts) == 4
            and parts[:2] == ["api", "segments"]
            and parts[3] == "profiles"
        ):
            return "segments:profiles", [parts[2]]
        if parts[:2] == ["api", "profile-bulk-import-jobs"]:
            if method == "POST" and len(parts) == 2:
                return "profile-bulk-import-jobs:create", []
            if method == "GET" and len(parts) == 3:
                return "profile-bulk-import-jobs:get", [parts[2]]
            if method == "GET" and len(parts) == 4 and parts[3] == "import-errors":
                return "profile-bulk-import-jobs:get", [parts[2], "import-errors"]
        if method == "POST" and parts == ["api", "events"]:
            return "events:create", []
        if method == "POST" and parts == ["api", "event-bulk-create-jobs"]:
            return "event-bulk-create-jobs:create", []
        raise ApiError(404, "not_found", "Not found.", f"No route for {method} {path}")

    def _take_fault(self, route: str, body: bytes) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.match is not None and fault.match not in body:
                    continue
                if fault.times > 0 and fault.route in (None, route):
                    if fault.kind == "never_complete":
                        continue  # applied when the job is created
                    fault.times -= 1
                    return fault
        return None

    def _take_never_complete(self, body: bytes) -> bool:
        with self.lock:
            for fault in self.faults:
                if fault.match is not None and fault.match not in body:
                    continue
                if fault.kind == "never_complete" and fault.times > 0:
                    fault.times -= 1
                    return True
        return False

    def handle(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """Answer one request: (status, JSON body or None, extra headers)."""
        split = urlsplit(target)
        path = split.path
        query = parse_qsl(split.query, keep_blank_values=True)
        route, args = self.route_of(method, path)
        fault = self._take_fault(route, body)
        if fault is not None:
            if fault.kind == "drop":
                raise _Drop
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "status":
                extra = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
                raise ApiError(
                    fault.status,
                    "throttled" if fault.status == 429 else "error",
                    "Request was throttled." if fault.status == 429 else "A server error occurred.",
                    "scripted fault",
                    headers=extra,
                )
        self._authenticate(headers, route)
        revision = headers.get("revision")
        if not revision:
            raise invalid("The 'revision' header is required.", parameter="revision")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.\w+)?", revision):
            raise invalid(f"Invalid revision {revision!r}.", parameter="revision")
        self._rate_limit(route)
        if method == "POST":
            ctype = headers.get("Content-Type", "")
            if "application/vnd.api+json" not in ctype and "application/json" not in ctype:
                raise ApiError(
                    415, "unsupported_media_type", "Unsupported media type.", f"got {ctype!r}"
                )
        if route in ("profiles:list", "segments:profiles"):
            return 200, self._list_profiles(route, args, query, path), {}
        if route == "profile-bulk-import-jobs:create":
            return 202, self._create_import_job(body), {}
        if route == "profile-bulk-import-jobs:get":
            if len(args) == 2:
                return 200, self._import_errors(args[0], query, path), {}
            return 200, {"data": self._job_resource(self._job(args[0]))}, {}
        if route == "events:create":
            self._create_event(body)
            return 202, None, {}
        if route == "event-bulk-create-jobs:create":
            return 202, self._create_event_job(body), {}
        raise AssertionError(route)  # pragma: no cover

    def _authenticate(self, headers: Any, route: str) -> None:
        auth = headers.get("Authorization", "")
        key = auth[len("Klaviyo-API-Key ") :].strip() if auth.startswith("Klaviyo-API-Key ") else ""
        scopes = self.api_keys.get(key)
        if scopes is None:
            raise ApiError(
                401,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Missing or invalid private key.",
                pointer="/data/",
            )
        missing = [s for s in ROUTE_SCOPES[route] if s not in scopes]
        if missing:
            raise ApiError(
                403,
                "permission_denied",
                "You do not have permission to perform this action.",
                f"This API key is missing required scopes: {', '.join(missing)}",
            )

    def _rate_limit(self, route: str) -> None:
        limit = self.rate_limits.get(route)
        if limit is None:
            return
        with self.lock:
            window = self._windows.get(route)
            if window is None:
                window = self._windows[route] = _Window(*limit, scale=self.window_scale)
            wait = window.admit(time.monotonic())
        if wait > 0:
            # Retry-After is whole seconds (of the scaled clock in tests).
            seconds = max(1, math.ceil(wait / self.window_scale))
            raise ApiError(
                429,
                "throttled",
                "Request was throttled.",
                f"Request was throttled. Expected available in {seconds} second"
                + ("s." if seconds != 1 else "."),
                headers={"Retry-After": str(seconds)},
            )

    # ----- profiles listing ---------------------------------------------------

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
        try:
            size = int(params.get("page[size]", "20"))
        except ValueError:
            raise invalid("page[size] must be an integer.", parameter="page[size]") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid(
                f"page[size] must be between 1 and {MAX_PAGE_SIZE}.", parameter="page[size]"
            )
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
                if profile is None or not _matches(profile, others):
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

    # ----- bulk profile import ------------------------------------------------

    def _parse_body(self, body: bytes) -> Any:
        try:
            return json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "parse_error", "Malformed request.", "JSON parse error.") from None

    def _create_import_job(self, body: bytes) -> dict[str, Any]:
        doc = self._parse_body(body)
        data = _require(doc, "data", dict, "/data")
        if data.get("type") != "profile-bulk-import-job":
            raise ApiError(
                409,
                "conflict",
                "Conflict.",
                f"The type {data.get('type')!r} does not match the endpoint "
                "(expected 'profile-bulk-import-job').",
                pointer="/data/type",
            )
        attributes = _require(data, "attributes", dict, "/data/attributes")
        profiles_doc = _require(attributes, "profiles", dict, "/data/attributes/profiles")
        items = _require(profiles_doc, "data", list, "/data/attributes/profiles/data")
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
            attrs = _require(item, "attributes", dict, f"{pointer}/attributes")
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
                created=time.monotonic(),
                profiles=profiles,
                never_complete=self._take_never_complete(body),
            )
            self.jobs[job.id] = job
        return {"data": self._job_resource(job)}

    def _job(self, job_id: str) -> ImportJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", "Not found.", f"Job {job_id!r} does not exist.")
        return job

    def _job_status(self, job: ImportJob) -> str:
        age = time.monotonic() - job.created
        if age < self.job_queued_seconds:
            return "queued"
        if job.never_complete or age < self.job_queued_seconds + self.job_processing_seconds:
            return "processing"
        with self.lock:
            if not job.applied:
                self._apply_job(job)
        return "complete"

    def _apply_job(self, job: ImportJob) -> None:
        now = time.time()
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
                            "original_payload": _plain(attrs),
                        },
                    }
                )
                continue
            profile = self.profile_by_email(email) if isinstance(email, str) else None
            props = _plain(attrs.get("properties") or {})
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
        status = self._job_status(job)
        total = len(job.profiles)
        failed = len(job.errors) if status == "complete" else 0
        return {
            "type": "profile-bulk-import-job",
            "id": job.id,
            "attributes": {
                "status": status,
                "created_at": iso(time.time() - (time.monotonic() - job.created)),
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
        job = self._job(job_id)
        self._job_status(job)
        params = dict(query)
        size = int(params.get("page[size]", "20"))
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid(
                f"page[size] must be between 1 and {MAX_PAGE_SIZE}.", parameter="page[size]"
            )
        start = int(params.get("page[cursor]", "0") or 0)
        chunk = job.errors[start : start + size]
        base = f"{self.url}{path}"
        nxt = None
        if start + size < len(job.errors):
            q = [(k, v) for k, v in query if k != "page[cursor]"] + [
                ("page[cursor]", str(start + size))
            ]
            nxt = base + "?" + urlencode(q)
        return {"data": chunk, "links": {"self": base, "next": nxt, "prev": None}}

    # ----- events -------------------------------------------------------------

    def _event_from(self, attrs: Any, pointer: str, profile: Any = None) -> None:
        if not isinstance(attrs, dict):
            raise invalid("attributes must be an object.", pointer=pointer)
        props = attrs.get("properties")
        if not isinstance(props, dict):
            raise invalid("properties is required.", pointer=f"{pointer}/properties")
        metric = attrs.get("metric", {}).get("data", {}).get("attributes", {}).get("name")
        if not isinstance(metric, str) or not metric:
            raise invalid("A metric name is required.", pointer=f"{pointer}/metric")
        if profile is None:
            profile = attrs.get("profile", {}).get("data", {}).get("attributes")
        if not isinstance(profile, dict) or not any(
            profile.get(k) for k in ("email", "external_id", "phone_number", "id")
        ):
            raise invalid("A profile identifier is required.", pointer=f"{pointer}/profile")
        who = str(profile.get("email") or profile.get("external_id") or profile.get("id"))
        unique = str(attrs.get("unique_id") or uuid.uuid4().hex)
        key = (metric, who.lower(), unique)
        with self.lock:
            # unique_id makes a retry safe: the same event is never counted twice.
            self.events.setdefault(key, {**_plain(attrs), "metric": metric, "profile": profile})

    def _create_event(self, body: bytes) -> None:
        doc = self._parse_body(body)
        data = _require(doc, "data", dict, "/data")
        if data.get("type") != "event":
            raise invalid("type must be 'event'.", pointer="/data/type")
        self._event_from(data.get("attributes"), "/data/attributes")

    def _create_event_job(self, body: bytes) -> dict[str, Any]:
        doc = self._parse_body(body)
        data = _require(doc, "data", dict, "/data")
        if data.get("type") != "event-bulk-create-job":
            raise invalid("type must be 'event-bulk-create-job'.", pointer="/data/type")
        attrs = _require(data, "attributes", dict, "/data/attributes")
        groups = _require(
            _require(attrs, "events-bulk-create", dict, "/data/attributes/events-bulk-create"),
            "data",
            list,
            "/data/attributes/events-bulk-create/data",
        )
        total = sum(
            len(g.get("attributes", {}).get("events", {}).get("data", []))
            for g in groups
            if isinstance(g, dict)
        )
        if total > MAX_EVENTS_PER_JOB:
            raise ApiError(
                413,
                "request_too_large",
                "Request too large.",
                f"A job may contain at most {MAX_EVENTS_PER_JOB} events, got {total}.",
            )
        for gi, group in enumerate(groups):
            pointer = f"/data/attributes/events-bulk-create/data/{gi}"
            gattrs = _require(group, "attributes", dict, f"{pointer}/attributes")
            profile = gattrs.get("profile", {}).get("data", {}).get("attributes")
            events = gattrs.get("events", {}).get("data", [])
            for ei, event in enumerate(events):
                self._event_from(
                    event.get("attributes"),
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


def _require(doc: Any, key: str, kind: type, pointer: str) -> Any:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, kind):
        raise invalid(f"'{pointer}' is required and must be a {kind.__name__}.", pointer=pointer)
    return value


def _plain(value: Any) -> Any:
    """JSON-ready copy (Decimals stay exact numbers in responses via the encoder)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _matches(profile: Profile, terms: list[tuple[str, str, Any]]) -> bool:
    for op, name, value in terms:
        if name == "email":
            if profile.email.lower() != str(value).lower():
                return False
        elif name == "id":
            if profile.id != value:
                return False
        else:
            mine = getattr(profile, name)
            ok = {
                "greater-than": mine > value,
                "greater-or-equal": mine >= value,
                "less-than": mine < value,
                "less-or-equal": mine <= value,
            }[op]
            if not ok:
                return False
    return True


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            return float(o)  # only in responses; tests compare typed values
        return super().default(o)


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeKlaviyo
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        fake = self.server_state
        length = int(self.headers.get("Content-Length") or 0)
        if fake.latency:
            time.sleep(fake.latency)
        if length > MAX_BODY_BYTES:
            # Refuse before reading the body, as Klaviyo's edge does.
            self.rfile.read(length)
            error = ApiError(
                413,
                "request_too_large",
                "Request too large.",
                f"The request body may be at most {MAX_BODY_BYTES} bytes, got {length}.",
            )
            self._record(method, None, error.status, b"")
            self._send(error.status, error.body(), error.headers)
            return
        body = self.rfile.read(length) if length else b""
        try:
            status, payload, headers = fake.handle(method, self.path, self.headers, body)
        except _Drop:
            self._record(method, "drop", 0, body)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except ApiError as error:
            status, payload, headers = error.status, error.body(), error.headers
        # Recorded before answering, so a test that got its answer sees the record.
        self._record(method, None, status, body)
        self._send(status, payload, headers)

    def _record(self, method: str, route: str | None, status: int, body: bytes) -> None:
        fake = self.server_state
        if route is None:
            try:
                route = fake.route_of(method, urlsplit(self.path).path)[0]
            except ApiError:
                route = "?"
        with fake.lock:
            fake.requests.append(
                RequestRecord(
                    time.monotonic(),
                    method,
                    self.path,
                    route,
                    status,
                    body if fake.record_bodies else b"",
                )
            )

    def _send(self, status: int, payload: dict[str, Any] | None, headers: dict[str, str]) -> None:
        data = b"" if payload is None else json.dumps(payload, cls=_Encoder).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.api+json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")
