"""The local Klaviyo's records, limits and errors (see ``klaviyo_server.py``).

Klaviyo's documented limits, the slotted profile record that lets the server hold
a million profiles, scripted faults, import jobs, the sliding rate windows, and
JSON:API errors in Klaviyo's shape ``{"errors":[{"id","status","code","title",
"detail","source"}]}``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

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


class RateWindow:
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


class DropConnection(Exception):
    """Close the connection without answering."""


def require(doc: Any, key: str, kind: type, pointer: str) -> Any:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, kind):
        raise invalid(f"'{pointer}' is required and must be a {kind.__name__}.", pointer=pointer)
    return value


def plain(value: Any) -> Any:
    """JSON-ready copy (Decimals stay exact numbers in responses via the encoder)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def matches(profile: Profile, terms: list[tuple[str, str, Any]]) -> bool:
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
