"""A faithful local Klaviyo API server for tests and benchmarks (real HTTP on 127.0.0.1).

It implements the parts of Klaviyo's API memberkit uses, as Klaviyo documents them:

- auth: ``Authorization: Klaviyo-API-Key <key>`` else 401; keys carry scopes, a
  missing scope is 403; a missing, malformed or unknown ``revision`` header (one
  not in ``KNOWN_REVISIONS``, e.g. ``1999-01-01``) is 400;
- ``GET /api/profiles`` and ``GET /api/segments/{id}/profiles``: ``page[size]``
  (1..100), opaque cursors with absolute ``links.next``, ``fields[profile]``
  sparse fieldsets, ``filter`` (``greater-than``/``greater-or-equal``/``less-than``/
  ``less-or-equal`` on ``joined_group_at`` or ``created``/``updated``, ``equals`` on
  ``email``; combined with commas or ``and(...)``), ``sort`` on the time field;
- ``POST /api/profile-bulk-import-jobs`` (413 over 5 MB or 10,000 profiles), jobs that
  go queued -> processing -> complete with the server's clock (``clock``, fake in
  tests), applied when their time comes whether or not anyone polls them,
  ``GET .../{id}`` and ``.../{id}/import-errors`` (invalid emails fail, with the
  original payload);
- ``POST /api/events`` and ``POST /api/event-bulk-create-jobs`` (at most 1,000 events,
  5 MB), deduplicated by ``unique_id``;
- JSON:API validation with Klaviyo-style error bodies
  ``{"errors":[{"id","status","code","title","detail","source"}]}``;
- per-endpoint rate limits (burst per second, steady per minute, sliding windows)
  answered with 429 and an integer ``Retry-After``;
- latency injected on every request, and scripted faults: status codes (429 storms,
  500s, error bodies that echo the API key), slow responses, dropped connections,
  and jobs that never complete. Faults fire after the auth, revision and rate-limit
  checks, as a real server's application errors would;
- numbers in responses are written from ``Decimal`` exactly (``10.50``), never via float;
- a bug in the server itself answers 500 and is kept in ``internal_errors`` (the
  test fixture fails the test on any), instead of dropping the connection.

It holds a million profiles in a few hundred MB (slotted records, sorted key lists).

This module holds ``FakeKlaviyo`` (data, faults, auth, limits, routing, HTTP);
the endpoints are in ``klaviyo_endpoints.py``, records and errors in ``klaviyo_model.py``.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import math
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.servers.klaviyo_endpoints import EventsApi, ImportJobsApi, ProfilesApi
from tests.servers.klaviyo_model import (
    ALL_SCOPES,
    MAX_BODY_BYTES,
    REAL_RATE_LIMITS,
    ROUTE_SCOPES,
    ApiError,
    DropConnection,
    Fault,
    ImportJob,
    Profile,
    RateWindow,
    RequestRecord,
    dumps,
    invalid,
    revision_problem,
)

__all__ = ["ALL_SCOPES", "REAL_RATE_LIMITS", "FakeKlaviyo", "Fault", "RequestRecord"]


class FakeKlaviyo(ProfilesApi, ImportJobsApi, EventsApi):
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
        clock: Callable[[], float] = time.monotonic,
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
        # Job progress, rate windows and request times follow ``clock`` (a fake one in
        # tests); Unix times (created, updated, completed_at) move with it.
        self.clock = clock
        self._wall_offset = time.time() - clock()
        self.internal_errors: list[str] = []
        self.lock = threading.RLock()
        self.profiles: dict[str, Profile] = {}
        self.by_email: dict[str, str] = {}
        # (created, id) in order: the profiles listing order.
        self.profile_keys: list[tuple[float, str]] = []
        # segment id -> sorted (joined_group_at, profile id)
        self.segments: dict[str, list[tuple[float, str]]] = {}
        self.jobs: dict[str, ImportJob] = {}
        self.pending_jobs: list[ImportJob] = []
        self.events: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.event_jobs: list[str] = []
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.record_bodies = False
        self._windows: dict[str, RateWindow] = {}
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ----- data ---------------------------------------------------------------

    def wall(self) -> float:
        """Unix time on the server's clock."""
        return self.clock() + self._wall_offset

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
            created = self.wall() if created is None else created
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
        """The profile with this email as Klaviyo holds it now (due jobs applied first)."""
        self.advance()
        return self._lookup_email(email)

    def _lookup_email(self, email: str) -> Profile | None:
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
        self._authenticate(headers, route)
        problem = revision_problem(headers.get("revision"))
        if problem is not None:
            raise invalid(problem, parameter="revision")
        self._rate_limit(route)
        self.advance()
        fault = self._take_fault(route, body)
        if fault is not None:
            if fault.kind == "drop":
                raise DropConnection
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "status":
                extra = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
                detail = "scripted fault"
                if fault.echo_key:
                    detail += f"; request key={headers.get('Authorization', '')}"
                raise ApiError(
                    fault.status,
                    "throttled" if fault.status == 429 else "error",
                    "Request was throttled." if fault.status == 429 else "A server error occurred.",
                    detail,
                    headers=extra,
                )
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
                window = self._windows[route] = RateWindow(*limit, scale=self.window_scale)
            wait = window.admit(self.clock())
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


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeKlaviyo
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm and the client's
    # delayed ACK every answer on a kept-alive connection would wait ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        fake = self.server_state
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            error = ApiError(400, "parse_error", "Malformed request.", "Invalid Content-Length.")
            self._record(method, None, error.status, b"")
            self.close_connection = True
            self._send(error.status, error.body(), error.headers)
            return
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
        except DropConnection:
            self._record(method, "drop", 0, body)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except ApiError as error:
            status, payload, headers = error.status, error.body(), error.headers
        except Exception:
            # A bug in this server, not a fault to script: answer as a real server's
            # 500 would, and keep the traceback for the fixture to fail the test with.
            with fake.lock:
                fake.internal_errors.append(traceback.format_exc())
            error = ApiError(500, "error", "A server error occurred.", "internal server error")
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
                    fake.clock(),
                    method,
                    self.path,
                    route,
                    status,
                    body if fake.record_bodies else b"",
                )
            )

    def _send(self, status: int, payload: dict[str, Any] | None, headers: dict[str, str]) -> None:
        data = b"" if payload is None else dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.api+json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        # A client that timed out has gone: nothing to answer, nothing to report.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.end_headers()
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")
